/**
 * ipa-api-url=mdns: a real mDNS exchange on the loopback interface (a
 * responder and the agent's query on the mDNS group address, a random port,
 * membership on 127.0.0.1 only) advertising the fake Ironic on 127.0.0.1 as
 * baremetal._openstack._tcp.local. The effect checked: the agent looks the
 * node up and heartbeats at the advertised URL, and the TXT record's allowed
 * ipa_ option (ntp_server) is used, the others not.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mDNS from 'multicast-dns';
import { ServiceLookupFailure } from '../src/errors.js';
import { HardwareSupport, type HardwareManager } from '../src/hardware/types.js';
import { buildServiceEndpoint } from '../src/inspect/mdns.js';
import { discoverApiUrl } from '../src/ironic/mdns-api.js';
import { runAgent } from '../src/main.js';
import { FAKE_NODE_UUID, startFakeIronic } from './support/fake-ironic.js';
import { createRecorder, makeConfig, silentLog, sleep } from './helpers.js';
import { createMemoryLog } from './support/logs.js';

const scratch = mkdtempSync(join(tmpdir(), 'rf-mdns-api-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const MAC = '52:54:00:12:34:56';
const nicManager = (): HardwareManager => ({
  className: 'NicManager',
  evaluate_hardware_support: () => HardwareSupport.GENERIC,
  list_network_interfaces: async () => [{ name: 'eth0', mac_address: MAC }],
  get_clean_steps: () => [],
});

/** A UDP port free on 127.0.0.1 just now. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** mDNS on the loopback interface only: the group address on a test port, bound to the group (no unicast listener). */
const loopbackSocket = (port: number) => ({ port, ip: '224.0.0.251', interface: '127.0.0.1', bind: '224.0.0.251' });

/** Answers queries for <service>._openstack._tcp.local with SRV and TXT records. */
function startResponder(port: number, service: string, srv: { target: string; port: number }, txt: string[]) {
  const name = `${service}._openstack._tcp.local`;
  const m = mDNS(loopbackSocket(port));
  const queries: string[] = [];
  m.on('query', (q) => {
    if (!q.questions.some((x) => x.name === name)) return;
    queries.push(q.questions.map((x) => `${x.name}/${x.type}`).join(','));
    m.respond({
      answers: [
        { name, type: 'SRV', data: srv },
        { name, type: 'TXT', data: txt },
      ],
    });
  });
  return { queries, close: () => new Promise<void>((r) => m.destroy(() => r())) };
}

describe('ipa-api-url=mdns', () => {
  it('finds the Ironic API as service baremetal, looks up and heartbeats there; ipa_ntp_server applies, ipa_debug does not', {
    timeout: 60_000,
  }, async () => {
    const fake = await startFakeIronic({ version: '1.62' });
    const port = await freePort();
    const responder = startResponder(port, 'baremetal', { target: '127.0.0.1.', port: Number(new URL(fake.url).port) }, [
      'protocol=http',
      'ipa_ntp_server=192.0.2.123',
      'ipa_debug=1',
      'region=r1',
    ]);
    const config = makeConfig({ standalone: false, apiUrl: ['mdns'], advertiseHost: '127.0.0.1', listenPort: 0, diskWaitAttempts: 1 });
    const run = createRecorder();
    try {
      const agent = await runAgent(config, {
        run,
        log: silentLog,
        stateDir: mkdtempSync(join(scratch, 'state-')),
        builtins: () => [nicManager()],
        mdnsSocket: loopbackSocket(port),
      });
      try {
        assert.ok(responder.queries.length >= 1);
        assert.equal(fake.requestsTo('lookup')[0]?.query.get('addresses'), MAC);
        assert.equal(agent.state.node?.uuid, FAKE_NODE_UUID);
        for (let i = 0; i < 100 && fake.requestsTo('heartbeat').length === 0; i++) await sleep(50);
        assert.equal(fake.requestsTo('heartbeat')[0]?.path, `/v1/heartbeat/${FAKE_NODE_UUID}`);
        assert.deepEqual(config.apiUrl, [fake.url]);
        assert.ok(
          run.calls.some((c) => c.join(' ') === 'ntpdate 192.0.2.123'),
          run.calls.map((c) => c.join(' ')).join('\n'),
        );
        assert.equal(config.debug, false, 'ipa_debug is not an option mDNS may override');
      } finally {
        await agent.stop();
      }
    } finally {
      await responder.close();
      await fake.close();
    }
  });

  it('no API URL and ipa-use-mdns: found the same way; ipa_inspection_callback_url is taken when it is a URL', async () => {
    const port = await freePort();
    const responder = startResponder(port, 'baremetal', { target: 'ironic.example.com.', port: 6385 }, [
      'path=/baremetal',
      'ipa_inspection_callback_url=http://192.0.2.9:5050/v1/continue/',
    ]);
    try {
      const changes = await discoverApiUrl(makeConfig({ standalone: false, apiUrl: [], useMdns: true }), {
        log: silentLog,
        socket: loopbackSocket(port),
      });
      assert.deepEqual(changes, {
        apiUrl: ['https://ironic.example.com:6385/baremetal'],
        inspectionCallbackUrl: ['http://192.0.2.9:5050/v1/continue'],
      });
    } finally {
      await responder.close();
    }
  });

  it("a .local server's address is its own A record, not another host's that came in before the SRV", async () => {
    const port = await freePort();
    const name = 'baremetal._openstack._tcp.local';
    const m = mDNS(loopbackSocket(port));
    m.on('query', (q) => {
      if (!q.questions.some((x) => x.name === name)) return;
      // Another host's announcement on the link, then (later) the service's answer with its server's address.
      m.respond({ answers: [{ name: 'printer.local', type: 'A', data: '192.0.2.77' }] });
      setTimeout(
        () =>
          m.respond({
            answers: [
              { name, type: 'SRV', data: { target: 'ironic.local.', port: 6385 } },
              { name, type: 'TXT', data: ['protocol=http'] },
            ],
            additionals: [{ name: 'ironic.local', type: 'A', data: '192.0.2.5' }],
          }),
        150,
      );
    });
    try {
      const changes = await discoverApiUrl(makeConfig({ standalone: false, apiUrl: ['mdns'] }), {
        log: silentLog,
        socket: loopbackSocket(port),
      });
      assert.deepEqual(changes, { apiUrl: ['http://192.0.2.5:6385'] });
    } finally {
      await new Promise<void>((r) => m.destroy(() => r()));
    }
  });

  it('nothing answers: an explicit mdns fails with ServiceLookupFailure; the implicit lookup only warns; nothing asked, nothing sent', async () => {
    const port = await freePort();
    const socket = loopbackSocket(port);
    const listener = mDNS(socket);
    const seen: string[] = [];
    listener.on('query', (q) => seen.push(q.questions.map((x) => x.name).join(',')));
    try {
      await assert.rejects(
        discoverApiUrl(makeConfig({ standalone: false, apiUrl: ['mdns'] }), { log: silentLog, socket, attempts: 1 }),
        (e: Error & { details?: string }) =>
          e.name === 'ServiceLookupFailure' &&
          /baremetal\._openstack\._tcp\.local found nothing; advertise it, or set ipa-api-url/.test(e.details ?? ''),
      );
      const log = createMemoryLog();
      assert.deepEqual(
        await discoverApiUrl(makeConfig({ standalone: false, apiUrl: [], useMdns: true }), { log, socket, attempts: 1 }),
        {},
      );
      assert.ok(
        log.lines.some((l) => l.startsWith('WARNING') && l.includes('will not heartbeat')),
        log.lines.join('\n'),
      );
      // With other URLs next to "mdns" those are used.
      const other = await discoverApiUrl(makeConfig({ standalone: false, apiUrl: ['mdns', 'http://192.0.2.1:6385'] }), {
        log: silentLog,
        socket,
        attempts: 1,
      });
      assert.deepEqual(other, { apiUrl: ['http://192.0.2.1:6385'] });
      assert.equal(seen.length, 3, 'one query per lookup');
      // Not asked for: no query at all.
      for (const c of [{ apiUrl: [] }, { apiUrl: ['http://192.0.2.1:6385'], useMdns: true }, { apiUrl: ['mdns'], standalone: true }]) {
        assert.deepEqual(await discoverApiUrl(makeConfig({ standalone: false, ...c }), { log: silentLog, socket, attempts: 1 }), {});
      }
      await sleep(100);
      assert.equal(seen.length, 3);
    } finally {
      await new Promise<void>((r) => listener.destroy(() => r()));
    }
  });

  it("a .local server with only link-local addresses: the first one (IPv4 first) is used with a warning, as IPA's get_endpoint", async () => {
    const port = await freePort();
    const name = 'baremetal._openstack._tcp.local';
    const m = mDNS(loopbackSocket(port));
    m.on('query', (q) => {
      if (!q.questions.some((x) => x.name === name)) return;
      m.respond({
        answers: [
          { name, type: 'SRV', data: { target: 'ironic.local.', port: 6385 } },
          { name, type: 'TXT', data: ['protocol=http', 'path=/baremetal'] },
        ],
        // The AAAA before the A, and a loopback address, which is never used.
        additionals: [
          { name: 'ironic.local', type: 'AAAA', data: 'fe80::5054:ff:fe12:3456' },
          { name: 'ironic.local', type: 'A', data: '127.0.0.1' },
          { name: 'ironic.local', type: 'A', data: '169.254.10.20' },
        ],
      });
    });
    try {
      const log = createMemoryLog();
      const changes = await discoverApiUrl(makeConfig({ standalone: false, apiUrl: ['mdns'] }), { log, socket: loopbackSocket(port) });
      assert.deepEqual(changes, { apiUrl: ['http://169.254.10.20:6385/baremetal'] });
      assert.ok(
        log.lines.some((l) => l.startsWith('WARNING') && l.includes('seem routable, using 169.254.10.20')),
        log.lines.join('\n'),
      );
    } finally {
      await new Promise<void>((r) => m.destroy(() => r()));
    }
  });
});

describe('mDNS: the address of a .local server', () => {
  const url = (addresses: string[], server = 'ironic.local.') =>
    buildServiceEndpoint({ server, port: 6385, addresses, txt: { protocol: 'http' } }, (d) => new ServiceLookupFailure(d));

  it('a routable address wins over link-local ones, wherever it comes, with no warning', () => {
    for (const addresses of [
      ['169.254.1.1', 'fe80::1', '192.0.2.5'],
      ['fe80::1', '2001:db8::5'],
    ]) {
      const e = url(addresses);
      assert.equal(e.warning, undefined);
      assert.equal(e.url, addresses.includes('192.0.2.5') ? 'http://192.0.2.5:6385' : 'http://[2001:db8::5]:6385');
    }
  });

  it('only link-local ones: the first IPv4 one, else the first IPv6 one, bracketed without a zone (IPA)', () => {
    const v4 = url(['fe80::1', '169.254.7.7', '169.254.8.8']);
    assert.equal(v4.url, 'http://169.254.7.7:6385');
    assert.match(v4.warning ?? '', /none of the addresses .*fe80::1.* of ironic\.local\. seem routable, using 169\.254\.7\.7/);
    const v6 = url(['::1', 'FE80::abcd', 'fe80::2']);
    assert.equal(v6.url, 'http://[FE80::abcd]:6385');
    assert.match(v6.warning ?? '', /using FE80::abcd/);
    // The URL is one Node's client accepts.
    assert.equal(new URL(v6.url).hostname, '[fe80::abcd]');
  });

  it('only loopback, unspecified or invalid ones: ServiceLookupFailure naming them', () => {
    for (const addresses of [['127.0.0.1', '::1'], ['0.0.0.0', 'not-an-ip'], []]) {
      assert.throws(
        () => url(addresses),
        (e: Error & { details?: string }) =>
          e.name === 'ServiceLookupFailure' && (e.details ?? '').includes(`none of the addresses ${JSON.stringify(addresses)}`),
      );
    }
  });

  it('a server that is not .local is used by name, whatever its addresses', () => {
    const e = url(['169.254.1.1'], 'ironic.example.com.');
    assert.equal(e.url, 'http://ironic.example.com:6385');
    assert.equal(e.warning, undefined);
  });
});
