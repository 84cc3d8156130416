import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LookupNodeError } from '../errors.js';
import { IronicClient, type IronicClientOptions } from './client.js';
import { HeartbeatConflictError, HeartbeatConnectionError, HeartbeatError } from './errors.js';
import {
  FAKE_NODE_UUID,
  findClosedUrl,
  ironicErrorBody,
  makeTestConfig,
  startFakeIronic,
  type FakeIronic,
} from '../../test/support/fake-ironic.js';
import { createMemoryLog, silentLog } from '../../test/support/logs.js';

/** Sleeps that only advance a fake clock, so retry loops run instantly. */
function makeFakeTime(): Required<Pick<IronicClientOptions, 'sleep' | 'now'>> & { slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('IronicClient', () => {
  let fake: FakeIronic;
  before(async () => {
    fake = await startFakeIronic();
  });
  after(async () => {
    await fake.close();
  });
  const clientFor = (over: Parameters<typeof makeTestConfig>[0] = {}, opts: IronicClientOptions = {}) =>
    new IronicClient(makeTestConfig({ apiUrl: [fake.url], ...over }), { log: silentLog, ...opts });

  it('discovers the version from GET / and caches it', async () => {
    fake.reset();
    fake.version = '1.80';
    const c = clientFor();
    assert.equal(await c.discoverVersion(), '1.80');
    assert.equal(await c.discoverVersion(), '1.80');
    assert.equal(fake.requestsTo('root').length, 1);
  });

  it('uses ironic_api_version without asking', async () => {
    fake.reset();
    const c = clientFor({ ironicApiVersion: '1.46' });
    assert.equal(await c.discoverVersion(), '1.46');
    assert.equal(fake.requests.length, 0);
  });

  it('falls back to 1.31 on errors and does not cache the fallback', async () => {
    fake.reply('root', { status: 500, body: 'boom' }, { status: 200, body: { default_version: {} } });
    const c = clientFor();
    assert.equal(await c.discoverVersion(), '1.31');
    assert.equal(await c.discoverVersion(), '1.31');
    assert.equal(await c.discoverVersion(), '1.80');
    const down = new IronicClient(makeTestConfig({ apiUrl: [await findClosedUrl()] }), { log: silentLog });
    assert.equal(await down.discoverVersion(), '1.31');
  });

  it('looks up with the addresses, node_uuid and the right headers', async () => {
    fake.reset();
    fake.version = '1.80';
    const c = clientFor({ globalRequestId: 'req-0123' });
    const r = await c.lookupNode({ addresses: ['52:54:00:12:34:56', '52:54:00:ab:cd:ef'], nodeUuid: 'abc' });
    assert.equal(r.node.uuid, FAKE_NODE_UUID);
    assert.equal(r.config.heartbeat_timeout, 300);
    const [req] = fake.requestsTo('lookup');
    assert.ok(req);
    assert.equal(req.query.get('addresses'), '52:54:00:12:34:56,52:54:00:ab:cd:ef');
    assert.equal(req.query.get('node_uuid'), 'abc');
    assert.equal(req.headers['x-openstack-ironic-api-version'], '1.62');
    assert.equal(req.headers['x-openstack-request-id'], 'req-0123');
    assert.equal(req.headers.accept, 'application/json');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(fake.requestsTo('root')[0]?.headers['x-openstack-request-id'], 'req-0123');
  });

  it('looks up with the discovered version when it is below 1.62, and no node_uuid unless given', async () => {
    fake.reset();
    fake.version = '1.46';
    const c = clientFor();
    await c.lookupNode({ addresses: ['52:54:00:12:34:56'] });
    const [req] = fake.requestsTo('lookup');
    assert.equal(req?.headers['x-openstack-ironic-api-version'], '1.46');
    assert.equal(req?.query.has('node_uuid'), false);
    assert.equal(req?.headers['x-openstack-request-id'], undefined);
    fake.version = '1.80';
  });

  it('retries failed lookups with random-exponential backoff', async () => {
    fake.reset();
    fake.reply(
      'lookup',
      { status: 404, body: ironicErrorBody('Node not found') },
      { status: 500, body: 'not json' },
      { status: 200, body: '{bad json' },
      { status: 200, body: { node: { uuid: 'u' } } }, // no config: not accepted
      { status: 200, body: { node: { uuid: 'u2' }, heartbeat_timeout: 42 } },
    );
    const time = makeFakeTime();
    const log = createMemoryLog();
    const c = clientFor({ lookupInterval: 1 }, { ...time, random: () => 1, log });
    const r = await c.lookupNode({ addresses: ['52:54:00:12:34:56'] });
    assert.equal(r.node.uuid, 'u2');
    assert.deepEqual(r.config, { heartbeat_timeout: 42 });
    // U(min, max(min, min(2^(n-1), 60))) with random()=1 → the upper bound.
    assert.deepEqual(time.slept, [1000, 2000, 4000, 8000]);
    assert.equal(fake.requestsTo('lookup').length, 5);
    assert.ok(
      log.lines.some((l) => l.includes('Error 404: Node not found')),
      log.lines.join('\n'),
    );
  });

  it('asks with the MACs listed again at each retry: a NIC that came up late is in the next lookup; a failed listing keeps the last', async () => {
    fake.reset();
    fake.reply(
      'lookup',
      { status: 404, body: ironicErrorBody('Node not found') },
      { status: 404, body: ironicErrorBody('Node not found') },
      { status: 404, body: ironicErrorBody('Node not found') },
      { status: 200, body: { node: { uuid: 'late-nic' }, config: { heartbeat_timeout: 30 } } },
    );
    const log = createMemoryLog();
    const listings: Array<() => string[]> = [
      () => ['52:54:00:12:34:56', '52:54:00:00:00:99'],
      () => {
        throw new Error('sysfs went away');
      },
      () => [],
    ];
    const c = clientFor({ lookupInterval: 1 }, { ...makeFakeTime(), random: () => 0, log });
    const r = await c.lookupNode({ addresses: ['52:54:00:12:34:56'], refreshAddresses: async () => listings.shift()!() });
    assert.equal(r.node.uuid, 'late-nic');
    assert.deepEqual(
      fake.requestsTo('lookup').map((q) => q.query.get('addresses')),
      [
        '52:54:00:12:34:56',
        '52:54:00:12:34:56,52:54:00:00:00:99',
        '52:54:00:12:34:56,52:54:00:00:00:99',
        '52:54:00:12:34:56,52:54:00:00:00:99',
      ],
    );
    assert.ok(log.lines.some((l) => /lookup addresses now 52:54:00:12:34:56,52:54:00:00:00:99 \(were 52:54:00:12:34:56\)/.test(l)));
    assert.ok(log.lines.some((l) => /WARNING listing the network interfaces for the lookup failed: .*sysfs went away/.test(l)));
  });

  it("goes through the proxy of its environment (http_proxy), unless no_proxy names Ironic, as IPA's requests session", async () => {
    fake.reset();
    const through: string[] = [];
    // A forward proxy: absolute-URI requests, relayed to the fake Ironic.
    const proxy = http.createServer((req, res) => {
      through.push(req.url!);
      const up = http.request(req.url!, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const saved = { http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy };
    try {
      process.env.http_proxy = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      delete process.env.no_proxy;
      assert.equal(await clientFor().discoverVersion(), '1.80');
      assert.deepEqual(through, [`${fake.url}/`]);
      process.env.no_proxy = '127.0.0.1';
      assert.equal(await clientFor().discoverVersion(), '1.80');
      assert.equal(through.length, 1, 'no_proxy: straight to Ironic');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('a lookup waits for GET / (a moment of 503) instead of going out at 1.31 without a token; after 3 failures it goes anyway', async () => {
    fake.reset();
    fake.version = '1.80';
    fake.reply('root', { status: 503, body: 'busy' });
    const time = makeFakeTime();
    await clientFor({ lookupInterval: 1 }, { ...time, random: () => 0 }).lookupNode({ addresses: ['52:54:00:12:34:56'] });
    assert.deepEqual(
      fake.requestsTo('lookup').map((r) => r.headers['x-openstack-ironic-api-version']),
      ['1.62'],
      'one lookup, at the version that gets a token',
    );
    fake.reset();
    fake.reply('root', ...Array.from({ length: 5 }, () => ({ status: 503, body: 'busy' })));
    const later = makeFakeTime();
    await clientFor({ lookupInterval: 1 }, { ...later, random: () => 0 }).lookupNode({ addresses: ['52:54:00:12:34:56'] });
    assert.deepEqual(
      fake.requestsTo('lookup').map((r) => r.headers['x-openstack-ironic-api-version']),
      ['1.31'],
      'the third failure in a row: looked up at the fallback, as IPA',
    );
    assert.equal(fake.requestsTo('root').length, 3);
    fake.reset();
  });

  it('caps the backoff at 60 s and never goes below lookup_interval', async () => {
    const replies = Array.from({ length: 9 }, () => ({ status: 404 }));
    fake.reply('lookup', ...replies);
    const time = makeFakeTime();
    const c = clientFor({ lookupInterval: 3 }, { ...time, random: () => 0.999999 });
    await c.lookupNode({ addresses: ['52:54:00:12:34:56'] });
    assert.deepEqual(
      time.slept.map((ms) => Math.round(ms / 1000)),
      [3, 3, 4, 8, 16, 32, 60, 60, 60],
    );
    const low = makeFakeTime();
    fake.reply('lookup', { status: 404 }, { status: 404 });
    await clientFor({ lookupInterval: 2 }, { ...low, random: () => 0 }).lookupNode({ addresses: ['a'] });
    assert.deepEqual(low.slept, [2000, 2000]);
  });

  it('sleeps 5, 10, then 30 s more after each 409', async () => {
    fake.reply('lookup', ...Array.from({ length: 4 }, () => ({ status: 409, body: ironicErrorBody('Node locked') })));
    const time = makeFakeTime();
    const c = clientFor({ lookupInterval: 1 }, { ...time, random: () => 0 });
    await c.lookupNode({ addresses: ['52:54:00:12:34:56'] });
    assert.deepEqual(time.slept, [5000, 1000, 10000, 1000, 30000, 1000, 30000, 1000]);
  });

  it('gives up with LookupNodeError after lookup_timeout', async () => {
    fake.reset();
    const time = makeFakeTime();
    fake.reply('lookup', ...Array.from({ length: 50 }, () => ({ status: 404 })));
    const c = clientFor({ lookupTimeout: 30, lookupInterval: 1 }, { ...time, random: () => 1 });
    await assert.rejects(c.lookupNode({ addresses: ['52:54:00:12:34:56'] }), (e: unknown) => {
      assert.ok(e instanceof LookupNodeError);
      assert.match(e.details, /ipa-lookup-timeout/);
      return true;
    });
    // 1+2+4+8 = 15 s, then 15 s left: the last sleep is cut to the deadline.
    assert.deepEqual(time.slept, [1000, 2000, 4000, 8000, 15000]);
    assert.equal(fake.requestsTo('lookup').length, 6);
    fake.reset();
  });

  it('stops a lookup promptly when its signal aborts', async () => {
    fake.reset();
    fake.reply('lookup', { status: 404 }, { status: 404 });
    const c = clientFor({ lookupInterval: 30 });
    const ac = new AbortController();
    const t = Date.now();
    setTimeout(() => ac.abort(new Error('agent stopping')), 50);
    await assert.rejects(c.lookupNode({ addresses: ['52:54:00:12:34:56'], signal: ac.signal }), /agent stopping/);
    assert.ok(Date.now() - t < 1000);
    fake.reset();
  });

  it("rejects with the signal's reason when it aborts while a request is in flight", async () => {
    fake.reset();
    fake.reply('lookup', { status: 404, delayMs: 2000 });
    const c = clientFor({ lookupInterval: 30 });
    const ac = new AbortController();
    const t = Date.now();
    setTimeout(() => ac.abort(new Error('agent stopping')), 50);
    await assert.rejects(c.lookupNode({ addresses: ['52:54:00:12:34:56'], signal: ac.signal }), /agent stopping/);
    assert.ok(Date.now() - t < 1500);
    fake.reset();
  });

  it('fails over to the next API URL and keeps the working one first', async () => {
    const closed = await findClosedUrl();
    fake.reset();
    const c = new IronicClient(makeTestConfig({ apiUrl: [closed + '/', fake.url] }), { log: silentLog });
    const res = await c.request('GET', '/');
    assert.equal(res.status, 200);
    assert.deepEqual(c.apiUrls, [fake.url, closed]);
    await c.request('GET', '/');
    assert.equal(fake.requestsTo('root').length, 2);
  });

  it('throws IronicConnectionError when no URL answers', async () => {
    const c = new IronicClient(makeTestConfig({ apiUrl: [await findClosedUrl(), await findClosedUrl()] }), { log: silentLog });
    await assert.rejects(c.request('GET', '/'), /Could not connect to the Ironic API/);
  });
});

describe('IronicClient.heartbeat', () => {
  let fake: FakeIronic;
  before(async () => {
    fake = await startFakeIronic();
  });
  after(async () => {
    await fake.close();
  });
  const beat = {
    nodeUuid: FAKE_NODE_UUID,
    callbackUrl: 'http://10.1.2.3:9999',
    token: 't'.repeat(43),
    agentVersion: '10.0.0',
    verifyCa: 'PEM',
  };
  const heartbeatAt = async (version: string, o: Partial<typeof beat> = {}) => {
    fake.reset();
    fake.version = version;
    const c = new IronicClient(makeTestConfig({ apiUrl: [fake.url] }), { log: silentLog });
    await c.heartbeat({ ...beat, ...o });
    const req = fake.requestsTo('heartbeat')[0];
    assert.ok(req);
    assert.equal(req.path, `/v1/heartbeat/${FAKE_NODE_UUID}`);
    return req;
  };

  it('sends only the keys the version allows, with min(version, 1.68)', async () => {
    let r = await heartbeatAt('1.31');
    assert.deepEqual(r.body, { callback_url: beat.callbackUrl });
    assert.equal(r.headers['x-openstack-ironic-api-version'], '1.31');
    r = await heartbeatAt('1.36');
    assert.deepEqual(r.body, { callback_url: beat.callbackUrl, agent_version: '10.0.0' });
    r = await heartbeatAt('1.62');
    assert.deepEqual(r.body, { callback_url: beat.callbackUrl, agent_token: beat.token, agent_version: '10.0.0' });
    r = await heartbeatAt('1.68');
    assert.deepEqual(r.body, { callback_url: beat.callbackUrl, agent_token: beat.token, agent_version: '10.0.0', agent_verify_ca: 'PEM' });
    r = await heartbeatAt('1.91', { token: undefined, verifyCa: undefined });
    assert.deepEqual(r.body, { callback_url: beat.callbackUrl, agent_token: null, agent_version: '10.0.0' });
    assert.equal(r.headers['x-openstack-ironic-api-version'], '1.68');
    assert.equal(r.headers['content-type'], 'application/json');
  });

  it('maps 409, other statuses and connection errors, unwrapping Ironic error bodies', async () => {
    fake.version = '1.68';
    const c = new IronicClient(makeTestConfig({ apiUrl: [fake.url] }), { log: silentLog });
    fake.reply('heartbeat', { status: 409, body: ironicErrorBody('Node is locked by host test-conductor') });
    await assert.rejects(
      c.heartbeat(beat),
      (e: unknown) => e instanceof HeartbeatConflictError && /Error 409: Node is locked/.test(e.details),
    );
    fake.reply('heartbeat', { status: 400, body: ironicErrorBody('Detected change in ramdisk provided "callback_url"') });
    await assert.rejects(
      c.heartbeat(beat),
      (e: unknown) => e instanceof HeartbeatError && e.details === 'Error 400: Detected change in ramdisk provided "callback_url"',
    );
    fake.reply('heartbeat', { status: 200, body: {} });
    await assert.rejects(c.heartbeat(beat), HeartbeatError);
    const down = new IronicClient(makeTestConfig({ apiUrl: [await findClosedUrl()], ironicApiVersion: '1.68' }), { log: silentLog });
    await assert.rejects(down.heartbeat(beat), HeartbeatConnectionError);
  });
});
