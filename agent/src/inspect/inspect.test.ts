/** Inspection end to end against a fake inspector on 127.0.0.1, over the server-r640 fixture. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';
import { createDefaultConfig } from '../config.js';
import { loadConfig } from '../config-load.js';
import type { AgentConfig } from '../config.js';
import { createHostAccess } from '../hardware/inventory/host-access.js';
import { type COLLECTORS, runCollectors } from './collectors.js';
import { collectIntrospectionData, runInspection } from './index.js';
import { postInspectionData } from './post.js';
import { createMemoryLog } from '../../test/support/logs.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/server-r640');
const BOOTIF = '01-24-6e-96-11-22-30';

interface Seen {
  url: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}
const seen: Seen[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: { uuid: 'node-uuid-1' } };
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({ url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()), headers: req.headers });
    res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.body));
  });
});
let base = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const config = (over: Partial<AgentConfig> = {}): AgentConfig => ({
  ...createDefaultConfig(),
  rootPath: FIXTURE,
  bootif: BOOTIF,
  inspectionCallbackUrl: [`${base}/v1/continue`],
  ...over,
});
const noSleep = async () => {};
/** A callback URL on a port that was just free: nothing listens there, so a POST is refused. */
async function freePortUrl(): Promise<string> {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return `http://127.0.0.1:${port}/v1/continue`;
}

async function listTar(b64: string): Promise<string[]> {
  const names: string[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((r) => ex.on('finish', () => r()));
  ex.on('entry', (h, s, next) => {
    names.push(h.name);
    s.on('end', next);
    s.resume();
  });
  ex.end(gunzipSync(Buffer.from(b64, 'base64')));
  await done;
  return names;
}

describe('runInspection', () => {
  it("posts every collector's keys plus legacy keys, returns the inspector's uuid", async () => {
    seen.length = 0;
    answer = { status: 200, body: { uuid: 'node-uuid-1' } };
    const cfg = config({
      inspectionCollectors: ['default', 'logs', 'pci-devices', 'numa-topology', 'dmi-decode'],
      globalRequestId: 'req-abc',
    });
    assert.equal(await runInspection(cfg, { sleep: noSleep }), 'node-uuid-1');
    assert.equal(seen.length, 1);
    const { body, url, headers } = seen[0]!;
    assert.equal(url, '/v1/continue');
    assert.equal(headers['x-openstack-request-id'], 'req-abc');
    const inv = JSON.parse(await readFile(path.join(FIXTURE, 'expected-inventory.json'), 'utf8'));
    inv.boot.pxe_interface = BOOTIF;
    assert.deepEqual(body.inventory, inv);
    assert.equal((body.root_disk as { name: string }).name, '/dev/sda');
    assert.equal('uuid' in (body.root_disk as object), false);
    assert.equal(body.boot_interface, BOOTIF);
    assert.deepEqual(body.configuration, {
      collectors: cfg.inspectionCollectors,
      managers: [{ name: 'generic_hardware_manager', version: '1.2' }],
    });
    assert.deepEqual(body.pci_devices, JSON.parse(await readFile(path.join(FIXTURE, 'expected-pci-devices.json'), 'utf8')));
    assert.deepEqual(body.numa_topology, JSON.parse(await readFile(path.join(FIXTURE, 'expected-numa-topology.json'), 'utf8')));
    assert.equal((body.dmi as { memory: { devices: unknown[] } }).memory.devices.length, 24);
    assert.ok((await listTar(body.logs as string)).includes('lshw'));
    assert.equal(body.error, null);
    assert.equal(body.cpus, 64);
    assert.equal(body.cpu_arch, 'x86_64');
    assert.equal(body.memory_mb, 196608);
    assert.equal(body.local_gb, 446);
    assert.equal(body.ipmi_address, '10.10.0.5');
    assert.deepEqual(body.interfaces, {
      eno1: { mac: '24:6e:96:11:22:30', ip: '10.20.0.15' },
      'eno1.100': { mac: '24:6e:96:11:22:30', ip: '10.100.0.15' },
      eno2: { mac: '24:6e:96:11:22:32', ip: null },
    });
  });

  it('still posts when a collector fails, with the accumulated error, then reports failure; no LLDP capture is only logged', async () => {
    seen.length = 0;
    const { lines: logs, ...log } = createMemoryLog();
    const cfg = config({ inspectionCollectors: ['default', 'lldp', 'nope'], cmdline: { 'ipa-inspection-legacy': '0' } });
    assert.equal(await runInspection(cfg, { sleep: noSleep, log }), undefined);
    const body = seen[0]!.body;
    assert.match(String(body.error), /^The following errors were encountered:\n\* collector nope failed: unknown collector/);
    assert.deepEqual(body.lldp_raw, {});
    assert.ok(
      logs.some((l) => /WARNING .*tcpdump is not in the ramdisk/.test(l)),
      logs.join('\n'),
    );
    assert.equal('cpus' in body, false);
    assert.ok(body.inventory);
    assert.ok(logs.some((l) => /inspection failed: The following errors/.test(l)));
  });

  it('does not retry an HTTP error and returns undefined', async () => {
    seen.length = 0;
    answer = { status: 400, body: { error: { message: 'Could not find a node' } } };
    const { lines: logs, ...log } = createMemoryLog();
    assert.equal(await runInspection(config({ inspectionCollectors: ['default'] }), { sleep: noSleep, log }), undefined);
    assert.equal(seen.length, 1);
    assert.match(logs[0]!, /stopping inspection, as inspector returned an error: .* answered 400/);
    answer = { status: 200, body: { uuid: 'node-uuid-1' } };
  });

  it("tries 5 rounds when refused, waiting as IPA's tenacity does (injected sleep)", async () => {
    const sleeps: number[] = [];
    const { lines: logs, ...log } = createMemoryLog();
    // A port that was just free: nothing listens there, so every attempt is refused.
    const down = await freePortUrl();
    const cfg = config({ inspectionCollectors: ['default'], inspectionCallbackUrl: [down] });
    assert.equal(
      await runInspection(cfg, {
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        log,
        postAttempts: 5,
      }),
      undefined,
    );
    assert.deepEqual(sleeps, [5000, 5000, 6000, 12000]);
    assert.equal(logs.filter((l) => /WARNING posting the inspection data failed \(round \d: .*ECONNREFUSED/.test(l)).length, 4);
    assert.match(logs.at(-1)!, new RegExp(`could not post the inspection data: ${down.replace(/\./g, '\\.')}: .*ECONNREFUSED`));
  });

  it('at boot, keeps posting past 5 rounds (30 s apart) until the inspector answers, as IPA restarted by systemd', async () => {
    const late = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{"uuid":"late-boot"}'));
    });
    const down = await freePortUrl();
    const sleeps: number[] = [];
    const { lines: logs, ...log } = createMemoryLog();
    const cfg = config({ inspectionCollectors: ['default'], inspectionCallbackUrl: [down] });
    try {
      const uuid = await runInspection(cfg, {
        sleep: async (ms) => {
          sleeps.push(ms);
          if (sleeps.length === 8) await new Promise<void>((r) => late.listen(Number(new URL(down).port), '127.0.0.1', r));
        },
        log,
      });
      assert.equal(uuid, 'late-boot');
      assert.deepEqual(sleeps, [5000, 5000, 6000, 12000, 24000, 30000, 30000, 30000]);
      assert.ok(
        logs.some((l) => /round 8: .*ECONNREFUSED.*again in 30 s/.test(l)),
        logs.join('\n'),
      );
    } finally {
      await new Promise<void>((r) => late.close(() => r()));
    }
  });

  it('succeeds once the inspector starts listening between retries', async () => {
    const late = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{"uuid":"late"}'));
    });
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
    const port = (late.address() as AddressInfo).port;
    await new Promise<void>((r) => late.close(() => r()));
    let sleeps = 0;
    const ans = await postInspectionData(
      [`http://127.0.0.1:${port}/v1/continue`],
      { a: 1 },
      {
        sleep: async () => {
          if (++sleeps === 2) await new Promise<void>((r) => late.listen(port, '127.0.0.1', r));
        },
      },
    );
    late.close();
    assert.deepEqual([ans, sleeps], [{ uuid: 'late' }, 2]);
  });

  /** A peer on 127.0.0.1 that answers each POST as `plan` says (default 200): a status, 'drop' (close the socket) or 'silent'. */
  async function plannedPeer(plan: Array<number | 'drop' | 'silent'>) {
    const got: string[] = [];
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const step = plan.shift() ?? 200;
        got.push(String(step));
        if (step === 'drop') req.socket.destroy();
        else if (step !== 'silent') res.writeHead(step).end(step === 200 ? '{"uuid":"n"}' : 'busy');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/continue`,
      plan,
      got,
      close: () => {
        srv.closeAllConnections();
        srv.close();
      },
    };
  }

  it('tries the next URL at once when one gives no answer, and says so (IPA master loops the URLs per round)', async () => {
    const peer = await plannedPeer([]);
    const down = await freePortUrl();
    const failed: string[] = [];
    let sleeps = 0;
    try {
      const body = await postInspectionData(
        [down, peer.url],
        { a: 1 },
        { sleep: async () => void sleeps++, onUrlFailed: (u) => failed.push(u) },
      );
      assert.deepEqual([body, peer.got, failed, sleeps], [{ uuid: 'n' }, ['200'], [down], 0]);
    } finally {
      peer.close();
    }
  });

  it("posts again when the connection drops after connecting (requests' ConnectionError), not when the peer stays silent", async () => {
    const peer = await plannedPeer(['drop', 200]);
    let sleeps = 0;
    try {
      assert.deepEqual(await postInspectionData([peer.url], { a: 1 }, { sleep: async () => void sleeps++ }), { uuid: 'n' });
      assert.deepEqual([peer.got, sleeps], [['drop', '200'], 1]);
      // A read timeout: the inspector may have taken the data, so it is not asked again in another round...
      peer.got.length = 0;
      sleeps = 0;
      peer.plan.push('silent');
      await assert.rejects(
        postInspectionData([peer.url], { a: 1 }, { sleep: async () => void sleeps++, timeoutMs: 300 }),
        (e: Error) => e.name === 'InspectionError' && /within 0\.3 s/.test(`${e.message} ${(e as { details?: string }).details}`),
      );
      assert.deepEqual([peer.got, sleeps], [['silent'], 0]);
      // ...but the next URL of the round is tried.
      peer.got.length = 0;
      peer.plan.push('silent', 200);
      assert.deepEqual(
        await postInspectionData([peer.url, `${peer.url}?again`], { a: 1 }, { sleep: async () => void sleeps++, timeoutMs: 300 }),
        {
          uuid: 'n',
        },
      );
      assert.deepEqual([peer.got, sleeps], [['silent', '200'], 0]);
    } finally {
      peer.close();
    }
  });

  it('a URL that went silent is not asked again in later rounds (it may have the data)', async () => {
    const quiet = await plannedPeer(['silent', 'silent', 'silent']);
    const down = await freePortUrl();
    let sleeps = 0;
    try {
      await assert.rejects(
        postInspectionData([quiet.url, down], { a: 1 }, { sleep: async () => void sleeps++, timeoutMs: 300 }),
        (e: Error) => e.name === 'InspectionError',
      );
      assert.deepEqual([quiet.got, sleeps], [['silent'], 4]);
    } finally {
      quiet.close();
    }
  });

  it('a 409 or 5xx starts the next round from the first URL, as IPA master does', async () => {
    const first = await plannedPeer([503]);
    const second = await plannedPeer([]);
    let sleeps = 0;
    try {
      assert.deepEqual(await postInspectionData([first.url, second.url], { a: 1 }, { sleep: async () => void sleeps++ }), { uuid: 'n' });
      assert.deepEqual([first.got, second.got, sleeps], [['503', '200'], [], 1]);
    } finally {
      first.close();
      second.close();
    }
  });

  it('posts again after a 409 (the conductor holds the node) or a 5xx; the last such answer is an InspectionError', async () => {
    const statuses: number[] = [];
    let plan: number[] = [];
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = plan.shift() ?? 200;
        statuses.push(status);
        res.writeHead(status).end(status === 200 ? '{"uuid":"after-retry"}' : 'busy');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/continue`;
    try {
      let sleeps = 0;
      const sleep = async () => void sleeps++;
      plan = [409, 503];
      assert.deepEqual(await postInspectionData([url], { a: 1 }, { sleep }), { uuid: 'after-retry' });
      assert.deepEqual([statuses, sleeps], [[409, 503, 200], 2]);
      statuses.length = 0;
      plan = [500, 500, 500, 500, 500];
      await assert.rejects(
        postInspectionData([url], { a: 1 }, { sleep }),
        (e: Error) => e.name === 'InspectionError' && /answered 500/.test(`${e.message} ${(e as { details?: string }).details}`),
      );
      assert.equal(statuses.length, 5);
      // Other errors are final at once.
      statuses.length = 0;
      plan = [400];
      await assert.rejects(postInspectionData([url], { a: 1 }, { sleep }), (e: Error) => e.name === 'InspectionError');
      assert.deepEqual(statuses, [400]);
    } finally {
      srv.close();
    }
  });

  it('numa-topology: a layout it cannot read (an offline CPU without topology/) is a warning and no numa_topology, as IPA', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'rf-numa-'));
    try {
      const node = path.join(root, 'sys/devices/system/node/node0');
      await mkdir(path.join(node, 'cpu0/topology'), { recursive: true });
      await mkdir(path.join(node, 'cpu1'), { recursive: true });
      await writeFile(path.join(node, 'meminfo'), 'Node 0 MemTotal:       1024 kB\n');
      await writeFile(path.join(node, 'cpu0/topology/core_id'), '0\n');
      const log = createMemoryLog();
      const data: Record<string, unknown> = {};
      const ctx = { host: createHostAccess({ root }), log } as unknown as Parameters<(typeof COLLECTORS)['numa-topology']>[1];
      const errors = await runCollectors(['numa-topology'], data, ctx);
      assert.equal(errors, null);
      assert.equal(data.numa_topology, undefined);
      assert.ok(
        log.lines.some((l) => /^WARNING numa-topology: .*no core_id for cpu1 of node0; numa_topology is left out$/.test(l)),
        log.lines.join('\n'),
      );
      // With the topology there, it is collected.
      await mkdir(path.join(node, 'cpu1/topology'), { recursive: true });
      await writeFile(path.join(node, 'cpu1/topology/core_id'), '0\n');
      await runCollectors(['numa-topology'], data, ctx);
      assert.deepEqual((data.numa_topology as unknown as { cpus: unknown }).cpus, [{ cpu: 0, numa_node: 0, thread_siblings: [0, 1] }]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('lldp before default: the inventory both post is taken after the DHCP wait, which runs once', async () => {
    const order: string[] = [];
    let dhcp: Promise<boolean> | undefined;
    const inv = { interfaces: [{ name: 'eno1', lldp: [[1, '04aa']] }], disks: [], boot: { pxe_interface: null } };
    const ctx = {
      log: createMemoryLog(),
      collectorNames: ['lldp', 'default'],
      managers: [],
      waitForDhcp: () =>
        (dhcp ??= (async () => {
          order.push('dhcp');
          return true;
        })()),
      inventory: async () => {
        order.push('inventory');
        return inv;
      },
    } as unknown as Parameters<(typeof COLLECTORS)['lldp']>[1];
    const data: Record<string, unknown> = {};
    assert.equal(await runCollectors(['lldp', 'default'], data, ctx), null);
    assert.deepEqual(order, ['dhcp', 'inventory', 'inventory']);
    assert.deepEqual(data.lldp_raw, { eno1: [[1, '04aa']] });
  });

  it('resolves mdns through the injected resolver and posts to <url>/v1/continue', async () => {
    seen.length = 0;
    const cfg = config({ inspectionCollectors: ['default'], inspectionCallbackUrl: ['mdns'] });
    assert.equal(await runInspection(cfg, { sleep: noSleep, resolveMdns: async () => ({ url: `${base}/` }) }), 'node-uuid-1');
    assert.equal(seen[0]!.url, '/v1/continue');
    // A .local server with only link-local addresses: the URL on the first one, and IPA's warning in the log.
    seen.length = 0;
    const log = createMemoryLog();
    const warning = 'mDNS: none of the addresses ["169.254.10.20"] of inspector.local seem routable, using 169.254.10.20';
    assert.equal(await runInspection(cfg, { sleep: noSleep, log, resolveMdns: async () => ({ url: `${base}/`, warning }) }), 'node-uuid-1');
    assert.equal(seen[0]!.url, '/v1/continue');
    assert.ok(
      log.lines.some((l) => l.includes(warning)),
      log.lines.join('\n'),
    );
  });

  it('[master] posts to <api_url>/v1/continue_inspection when collectors are set with api_url', async () => {
    seen.length = 0;
    answer = { status: 202, body: { uuid: 'node-uuid-2' } };
    const cfg = config({
      inspectionCallbackUrl: [],
      apiUrl: [base],
      inspectionCollectors: ['default'],
      cmdline: { 'ipa-inspection-collectors': 'default' },
    });
    assert.equal(await runInspection(cfg, { sleep: noSleep }), 'node-uuid-2');
    assert.equal(seen[0]!.url, '/v1/continue_inspection');
    answer = { status: 200, body: { uuid: 'node-uuid-1' } };
  });

  it('[master] collectors from an INI file or the JSON config choose continue_inspection as on the command line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'inspect-config-'));
    try {
      await writeFile(path.join(dir, 'cmdline'), '');
      await mkdir(path.join(dir, 'etc'), { recursive: true });
      const sources = [
        // IPA's INI option, no kernel parameter.
        { ini: `[DEFAULT]\napi_url = ${base}\ninspection_collectors = default\n` },
        // ramforge's JSON config, no kernel parameter.
        { json: { apiUrl: [base], inspectionCollectors: ['default'] } },
      ];
      for (const src of sources) {
        await rm(path.join(dir, 'etc/ironic-python-agent.conf'), { force: true });
        await rm(path.join(dir, 'ramforge.json'), { force: true });
        if (src.ini) await writeFile(path.join(dir, 'etc/ironic-python-agent.conf'), src.ini);
        if (src.json) await writeFile(path.join(dir, 'ramforge.json'), JSON.stringify(src.json));
        const loaded = await loadConfig({
          cmdlinePath: path.join(dir, 'cmdline'),
          configFile: path.join(dir, 'ramforge.json'),
          root: dir,
          log: createMemoryLog(),
        });
        assert.equal(loaded.cmdline['ipa-inspection-collectors'], undefined);
        seen.length = 0;
        answer = { status: 202, body: { uuid: 'node-uuid-3' } };
        const got = await runInspection({ ...loaded, rootPath: FIXTURE, bootif: BOOTIF }, { sleep: noSleep });
        assert.equal(got, 'node-uuid-3', JSON.stringify(src));
        assert.deepEqual(
          seen.map((x) => x.url),
          ['/v1/continue_inspection'],
        );
      }
      // An empty kernel parameter leaves the collectors unset: no inspection (IPA: an empty string is false).
      await rm(path.join(dir, 'ramforge.json'), { force: true });
      await rm(path.join(dir, 'etc/ironic-python-agent.conf'), { force: true });
      await writeFile(path.join(dir, 'cmdline'), `ipa-api-url=${base} ipa-inspection-collectors=\n`);
      const empty = await loadConfig({ cmdlinePath: path.join(dir, 'cmdline'), configFile: path.join(dir, 'ramforge.json'), root: dir });
      seen.length = 0;
      assert.equal(await runInspection({ ...empty, rootPath: FIXTURE }, { sleep: noSleep }), undefined);
      assert.equal(seen.length, 0);
    } finally {
      answer = { status: 200, body: { uuid: 'node-uuid-1' } };
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is off without a callback URL', async () => {
    assert.equal(await runInspection(config({ inspectionCallbackUrl: [] })), undefined);
  });
});

describe('collectIntrospectionData', () => {
  it('raises "Inspection failed" when the first run fails', async () => {
    answer = { status: 404, body: {} };
    await assert.rejects(collectIntrospectionData(config({ inspectionCollectors: ['default'] }), { sleep: noSleep }), (e: unknown) =>
      /Inspection failed: stopping inspection/.test((e as { details: string }).details),
    );
    answer = { status: 200, body: { uuid: 'node-uuid-1' } };
  });
  it('looks the inspector up over mDNS only when ipa-use-mdns allows it (IPA master: opt-in)', async () => {
    const asked: string[] = [];
    const resolveMdns = async (service: string) => {
      asked.push(service);
      return { url: `${base}/` };
    };
    const { lines, ...log } = createMemoryLog();
    await assert.rejects(
      collectIntrospectionData(config({ inspectionCallbackUrl: [] }), { sleep: noSleep, resolveMdns, log }),
      (e: unknown) => /no target: set ipa-inspection-callback-url, or ipa-use-mdns=1/.test((e as { details: string }).details),
    );
    assert.deepEqual(asked, []);
    assert.match(lines.join('\n'), /ipa-use-mdns is not set: not looking the inspector up over mDNS/);
    seen.length = 0;
    assert.equal(
      await collectIntrospectionData(config({ inspectionCallbackUrl: [], useMdns: true, inspectionCollectors: ['default'] }), {
        sleep: noSleep,
        resolveMdns,
        log,
      }),
      'node-uuid-1',
    );
    assert.deepEqual([asked, seen.map((s) => s.url)], [['baremetal-introspection'], ['/v1/continue']]);
  });
  it('in daemon mode re-posts until aborted', async () => {
    seen.length = 0;
    const ac = new AbortController();
    let sleeps = 0;
    const uuid = await collectIntrospectionData(config({ inspectionCollectors: ['default'] }), {
      daemon: true,
      postInterval: 300,
      signal: ac.signal,
      sleep: noSleep,
      random: () => 0.5,
      daemonSleep: async () => {
        if (++sleeps === 3) ac.abort();
      },
    });
    assert.equal(uuid, 'node-uuid-1');
    assert.equal(seen.length, 3);
  });
});
