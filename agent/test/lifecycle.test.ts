/**
 * runAgent() against the fake Ironic (test/support/fake-ironic.ts) on 127.0.0.1: lookup by MAC,
 * token, auto TLS (the API verified with the PEM sent as agent_verify_ca,
 * like the conductor does), heartbeat body, token-protected POST, and a
 * restart within the same boot (masked token → saved token and same PEM).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HardwareSupport, type HardwareManager } from '../src/hardware/types.js';
import { FAKE_NODE_UUID, FAKE_TOKEN, startFakeIronic } from './support/fake-ironic.js';
import { runAgent } from '../src/main.js';
import { createRecorder, makeConfig, silentLog, sleep } from './helpers.js';
import { createMemoryLog } from './support/logs.js';

/** Every temporary directory of this file lives here and goes away after it. */
const scratch = mkdtempSync(join(tmpdir(), 'rf-agent-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const MAC = '52:54:00:12:34:56';
const nicManager = (): HardwareManager => ({
  className: 'NicManager',
  evaluate_hardware_support: () => HardwareSupport.GENERIC,
  list_network_interfaces: async () => [{ name: 'eth0', mac_address: MAC }],
  get_clean_steps: () => [],
});

function httpsJson(url: string, ca: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('lookup → auto TLS → API → heartbeat, then a restart in the same boot keeps token and certificate', { timeout: 60_000 }, async () => {
  const fake = await startFakeIronic({ version: '1.80' });
  const stateDir = mkdtempSync(join(scratch, 'life-'));
  const config = makeConfig({ standalone: false, apiUrl: [fake.url], advertiseHost: '127.0.0.1', listenPort: 0, diskWaitAttempts: 1 });
  try {
    const agent = await runAgent(config, { run: createRecorder(), log: silentLog, stateDir, builtins: () => [nicManager()] });
    const port = agent.server!.port;
    config.advertisePort = port; // what ipa-advertise-port would say; only used for the callback URL below
    const lookup = fake.requestsTo('lookup')[0]!;
    assert.equal(lookup.query.get('addresses'), MAC);
    assert.equal(agent.state.token, FAKE_TOKEN);
    assert.equal(agent.state.node?.uuid, FAKE_NODE_UUID);
    assert.match(agent.state.callbackUrl!, /^https:\/\/127\.0\.0\.1:/);
    assert.ok(agent.state.verifyCaPem?.includes('BEGIN CERTIFICATE'));
    assert.equal(readFileSync(join(stateDir, 'agent-token'), 'utf8'), FAKE_TOKEN);

    for (let i = 0; i < 100 && fake.requestsTo('heartbeat').length === 0; i++) await sleep(50);
    const hb = fake.requestsTo('heartbeat')[0]!;
    assert.equal(hb.path, `/v1/heartbeat/${FAKE_NODE_UUID}`);
    const body = hb.body as Record<string, unknown>;
    assert.equal(body.agent_token, FAKE_TOKEN);
    assert.equal(body.agent_version, '10.0.0+ramforge');
    assert.equal(body.agent_verify_ca, agent.state.verifyCaPem);

    // The conductor's view: verify the agent with the PEM it received, hostname checked against the IP SAN.
    const base = `https://127.0.0.1:${port}`;
    const ca = agent.state.verifyCaPem!;
    assert.equal((await httpsJson(`${base}/v1/status`, ca)).status, 200);
    const denied = await httpsJson(`${base}/v1/commands/?wait=true`, ca, 'POST', { name: 'standby.sync', params: {} });
    assert.equal(denied.status, 401);
    const ok = await httpsJson(`${base}/v1/commands/?wait=true&agent_token=${FAKE_TOKEN}`, ca, 'POST', {
      name: 'clean.get_clean_steps',
      params: { node: {}, ports: [] },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.command_result.hardware_manager_version, { NicManager: '1.0' });
    // Zed conductors GET without a token.
    assert.equal((await httpsJson(`${base}/v1/commands/`, ca)).json.commands.length, 1);
    const firstPem = agent.state.verifyCaPem;
    await agent.stop();

    // Restart within the boot: Ironic now answers the masked token.
    fake.reply('lookup', {
      status: 200,
      body: { node: { uuid: FAKE_NODE_UUID }, config: { heartbeat_timeout: 300, agent_token: '******' } },
    });
    const again = await runAgent(
      { ...config, listenPort: 0 },
      { run: createRecorder(), log: silentLog, stateDir, builtins: () => [nicManager()] },
    );
    assert.equal(again.state.token, FAKE_TOKEN);
    assert.equal(again.state.verifyCaPem, firstPem);
    assert.equal((await httpsJson(`https://127.0.0.1:${again.server!.port}/v1/commands/`, firstPem!)).json.commands.length, 0);
    await again.stop();
  } finally {
    await fake.close();
  }
});

test('Ironic older than 1.68: plain HTTP, no agent_verify_ca', { timeout: 60_000 }, async () => {
  const fake = await startFakeIronic({ version: '1.62' });
  const stateDir = mkdtempSync(join(scratch, 'life-'));
  const config = makeConfig({ standalone: false, apiUrl: [fake.url], advertiseHost: '127.0.0.1', listenPort: 0 });
  try {
    const agent = await runAgent(config, { run: createRecorder(), log: silentLog, stateDir, builtins: () => [nicManager()] });
    assert.match(agent.state.callbackUrl!, /^http:\/\/127\.0\.0\.1:9999$/);
    assert.equal(agent.state.verifyCaPem, undefined);
    const r = await fetch(`http://127.0.0.1:${agent.server!.port}/v1/status`);
    assert.equal(r.status, 200);
    await agent.stop();
  } finally {
    await fake.close();
  }
});

/** An agent config for a vmedia boot against `apiUrl`, its files under `root` (made by vmediaRoot). */
const vmediaConfig = (apiUrl: string, root: string) =>
  makeConfig({
    standalone: false,
    apiUrl: [apiUrl],
    advertiseHost: '127.0.0.1',
    rootPath: root,
    cmdline: { boot_method: 'vmedia' },
    diskWaitAttempts: 1,
  });

/** A root with one physical NIC (its device link: what network_data.json's MACs are matched against) and /proc/mounts. */
function vmediaRoot(prefix: string, mounts: (root: string) => string): string {
  const root = mkdtempSync(join(scratch, prefix));
  mkdirSync(join(root, 'sys/class/net/eth0/device'), { recursive: true });
  writeFileSync(join(root, 'sys/class/net/eth0/address'), `${MAC}\n`);
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(join(root, 'proc/mounts'), mounts(root));
  return root;
}

/** vmediaRoot with the virtual-media ISO mounted at <root>/iso holding `networkData` as openstack/latest/network_data.json. */
function vmediaIsoRoot(prefix: string, networkData: unknown): string {
  const root = vmediaRoot(prefix, (r) => `/dev/sr0 ${join(r, 'iso')} iso9660 ro 0 0\n`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'iso/openstack/latest'), { recursive: true });
  writeFileSync(join(root, 'iso/openstack/latest/network_data.json'), JSON.stringify(networkData));
  return root;
}

/** lsblk's answer for that ISO: a CD-ROM labelled as Ironic labels it. */
const VMEDIA_LSBLK = 'NAME="sr0" LABEL="vmedia_boot_iso" TYPE="rom" RM="1"\n';

test('boot_method=vmedia: where the ramdisk deferred DHCP to a network_data.json the agent does not find, the agent starts DHCP itself', {
  timeout: 60_000,
}, async () => {
  const fake = await startFakeIronic({ version: '1.80' });
  const root = vmediaRoot('vmedia-deferred-', () => '');
  // tinyipa's rcS saw a document and started no DHCP client; its DHCP script is there.
  mkdirSync(join(root, 'run/ramforge'), { recursive: true });
  writeFileSync(join(root, 'run/ramforge/dhcp-deferred'), '');
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  writeFileSync(join(root, 'usr/sbin/ramforge-dhcp'), '#!/bin/sh\n', { mode: 0o755 });
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    return { stdout: argv[0] === '/usr/sbin/ramforge-dhcp' ? 'eth0\n' : '', stderr: '', code: 0 };
  }) as ReturnType<typeof createRecorder>;
  const config = vmediaConfig(fake.url, root);
  const log = createMemoryLog();
  try {
    const agent = await runAgent(config, { run, log, stateDir: mkdtempSync(join(scratch, 'state-')), builtins: () => [nicManager()] });
    await agent.stop();
    assert.ok(calls.includes('/usr/sbin/ramforge-dhcp'), calls.join('\n'));
    assert.ok(
      log.lines.some((l) => /no static address could be applied: DHCP started on every wired interface .*eth0/.test(l)),
      log.lines.join('\n'),
    );
  } finally {
    await fake.close();
  }
});

test('boot_method=vmedia, standalone: the agent applies network_data.json from the virtual media too (and serves without Ironic)', {
  timeout: 60_000,
}, async () => {
  const root = vmediaIsoRoot('vmedia-standalone-', {
    links: [{ id: 'port-1', type: 'phy', ethernet_mac_address: MAC }],
    networks: [{ id: 'n', type: 'ipv4', link: 'port-1', ip_address: '192.0.2.21', netmask: '255.255.255.0', routes: [] }],
  });
  const calls: string[] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv.join(' '));
    const stdout = argv[0] === 'lsblk' ? VMEDIA_LSBLK : '';
    return { stdout, stderr: '', code: 0 };
  }) as ReturnType<typeof createRecorder>;
  const config = { ...vmediaConfig('http://127.0.0.1:9', root), standalone: true, apiUrl: [], listenPort: 0 };
  const agent = await runAgent(config, {
    run,
    log: silentLog,
    stateDir: mkdtempSync(join(scratch, 'state-')),
    builtins: () => [nicManager()],
  });
  try {
    assert.ok(calls.includes('ip -4 addr add 192.0.2.21/24 dev eth0'), calls.join('\n'));
    const r = await fetch(`http://127.0.0.1:${agent.server!.port}/v1/status`);
    assert.equal(r.status, 200);
  } finally {
    await agent.stop();
  }
});

test('boot_method=vmedia: network_data.json from the virtual media configures the NIC before lookup', { timeout: 60_000 }, async () => {
  const fake = await startFakeIronic({ version: '1.80' });
  const root = vmediaIsoRoot('vmedia-net-', {
    links: [{ id: 'port-1', type: 'phy', ethernet_mac_address: MAC.toUpperCase() }],
    networks: [{ id: 'n', type: 'ipv4', link: 'port-1', ip_address: '192.0.2.20', netmask: '255.255.255.0', routes: [] }],
    services: [{ type: 'dns', address: '192.0.2.53' }],
  });
  const calls: Array<{ argv: string; lookupsBefore: number }> = [];
  const run = (async (argv: string[]) => {
    calls.push({ argv: argv.join(' '), lookupsBefore: fake.requestsTo('lookup').length });
    const stdout = argv[0] === 'lsblk' ? VMEDIA_LSBLK : '';
    return { stdout, stderr: '', code: 0 };
  }) as ReturnType<typeof createRecorder>;
  const config = vmediaConfig(fake.url, root);
  try {
    const agent = await runAgent(config, {
      run,
      log: silentLog,
      stateDir: mkdtempSync(join(scratch, 'state-')),
      builtins: () => [nicManager()],
    });
    await agent.stop();
    const addr = calls.find((c) => c.argv === 'ip -4 addr add 192.0.2.20/24 dev eth0');
    assert.ok(addr, calls.map((c) => c.argv).join('\n'));
    assert.equal(addr.lookupsBefore, 0, 'the address is configured before the lookup');
    assert.equal(fake.requestsTo('lookup').length, 1);
    assert.match(readFileSync(join(root, 'etc/resolv.conf'), 'utf8'), /^nameserver 192\.0\.2\.53$/m);
  } finally {
    await fake.close();
  }
});
