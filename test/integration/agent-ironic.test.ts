/**
 * Acceptance: the TypeScript agent on the host, loop disk, against the REAL
 * Ironic 21.4 (+ Inspector 11.1). The agent runs sandboxed (see
 * test/support/agent-sandbox.ts): it sees one loop device and cannot write
 * any host disk nor power the host off. Each flow is one "boot": the
 * conductor boots the node with fake power, the test starts a fresh agent.
 *
 *   node --import tsx --test test/integration/agent-ironic.test.ts
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedIronic, startIronic, stopSharedIronic, type IronicEnv } from '../support/ironic.js';
import { createLoopDisk, type LoopDisk } from '../support/loopdisk.js';
import { hostPxeInterface } from '../support/agent-process.js';
import {
  agentMissingReason,
  makeQcow2Image,
  makeRawImage,
  TestScope,
  waitUntil,
  withLogs,
  writeMarkerManager,
} from './agent-ironic-helpers.js';

const skip = agentMissingReason();
let env: IronicEnv;
let disk: LoopDisk;
let scope: TestScope;
const nic = skip ? { name: '', mac: '' } : hostPxeInterface();
// Faster retries than IPA's defaults (9 × 10 s) so a wrong checksum fails in seconds.
const FAST_DOWNLOAD = { 'ipa-image-download-connection-retries': '1', 'ipa-image-download-connection-retry-interval': '1' };

before(async () => {
  if (skip) return;
  env = await sharedIronic();
  disk = createLoopDisk();
});
afterEach(async () => {
  await scope?.cleanup();
});
after(async () => {
  disk?.detach();
  await stopSharedIronic();
});

const baseAgent = () => ({ apiUrl: env.apiUrl, bootifMac: nic.mac, cmdline: FAST_DOWNLOAD });

test('agent on host, loop disk: automated cleaning on provide wipes the GPT and filesystem', { skip, timeout: 420_000 }, async () => {
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    disk.writeGptAndExt4();
    assert.ok(disk.signatures().length > 0, 'the loop disk should carry signatures before cleaning');
    const uuid = await scope.enroll(nic.mac);
    const t0 = Date.now();
    const n = await scope.cleanToAvailable(uuid, baseAgent());
    console.log(`automated cleaning (manage+provide → available) took ${Date.now() - t0} ms`);
    assert.equal(n.provision_state, 'available');
    assert.equal(n.last_error, null);
    assert.deepEqual(disk.signatures(), [], 'wipefs still finds signatures after cleaning');
    assert.equal(disk.partitionTable(), undefined);
  });
});

test('agent on host, loop disk: deploy raw then qcow2 byte for byte; wrong checksum → deploy failed', {
  skip,
  timeout: 900_000,
}, async () => {
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    const raw = makeRawImage(env, 'whole-disk.raw');
    const qcow = makeQcow2Image(env, 'whole-disk.qcow2');
    // Cleaning has its own test: skip it here (node.automated_clean=false) so the three deploys stay fast.
    const uuid = await scope.enroll(nic.mac, { fields: { automated_clean: false } });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.setProvisionState(uuid, 'provide');
    await env.waitForProvisionState(uuid, ['available'], 60_000);

    const deploy = async (instanceInfo: Record<string, unknown>, endStates: string[]) => {
      const patch = Object.entries(instanceInfo).map(([k, v]) => ({ op: 'add', path: `/instance_info/${k}`, value: v }));
      const r = await env.api('PATCH', `/v1/nodes/${uuid}`, patch);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await env.setProvisionState(uuid, 'active');
      return scope.bootAgentThrough(uuid, { waitState: 'wait call-back', endStates, timeoutMs: 300_000, agent: baseAgent() });
    };

    // 1. raw, verified with os_hash_algo/os_hash_value (what Glance-style callers send).
    let t0 = Date.now();
    let n = await deploy(
      { image_source: raw.url, image_os_hash_algo: 'sha256', image_os_hash_value: raw.sha256, image_disk_format: 'raw' },
      ['active'],
    );
    console.log(`raw deploy (deploy → active) took ${Date.now() - t0} ms`);
    assert.equal(n.provision_state, 'active');
    assert.ok(disk.readBytes(0, raw.bytes.length).equals(raw.bytes), 'the loop disk does not hold the raw image byte for byte');
    const powerCalls = scope.agents.at(-1)!.powerLog();
    console.log(`power commands the agent ran (faked): ${JSON.stringify(powerCalls)}`);
    // The conductor ends a deploy with standby.power_off: the agent must really try to power off.
    assert.ok(
      powerCalls.some((c) => c.startsWith('poweroff')),
      'standby.power_off did not run poweroff',
    );

    // 2. undeploy (no cleaning here; Ironic wipes instance_info), then qcow2 verified with image_checksum (sha256 hex).
    await env.setProvisionState(uuid, 'deleted');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    t0 = Date.now();
    n = await deploy({ image_source: qcow.url, image_checksum: qcow.sha256, image_disk_format: 'qcow2' }, ['active']);
    console.log(`qcow2 deploy (deploy → active) took ${Date.now() - t0} ms`);
    assert.ok(disk.readBytes(0, qcow.bytes.length).equals(qcow.bytes), 'the loop disk does not hold the qcow2 image content byte for byte');

    // 3. wrong checksum: deploy failed with the agent's error text in last_error.
    await env.setProvisionState(uuid, 'deleted');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    const wrong = 'f'.repeat(64);
    n = await deploy({ image_source: raw.url, image_checksum: wrong, image_disk_format: 'raw' }, ['deploy failed']);
    console.log(`wrong checksum → last_error: ${n.last_error}`);
    assert.equal(n.provision_state, 'deploy failed');
    assert.match(n.last_error ?? '', /checksum/i);
    assert.ok(
      (n.last_error ?? '').includes(wrong) || /verif/i.test(n.last_error ?? ''),
      "last_error should carry the agent's checksum error text",
    );
  });
});

test('agent on host, loop disk: deploy verified by an MD5 image_checksum, then by an md5sum checksum file', {
  skip,
  timeout: 900_000,
}, async () => {
  // Ironic 21.4 sends no agent_md5_checksum_enable in the lookup: the agent must accept MD5 as IPA does.
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    const raw = makeRawImage(env, 'whole-disk-md5.raw');
    const md5 = createHash('md5').update(raw.bytes).digest('hex');
    writeFileSync(join(env.httpRoot, 'MD5SUMS'), `${'0'.repeat(32)}  other.raw\n${md5}  ${raw.name}\n`);
    const uuid = await scope.enroll(nic.mac, { fields: { automated_clean: false } });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.setProvisionState(uuid, 'provide');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    const deploy = async (instanceInfo: Record<string, unknown>) => {
      const patch = Object.entries(instanceInfo).map(([k, v]) => ({ op: 'add', path: `/instance_info/${k}`, value: v }));
      const r = await env.api('PATCH', `/v1/nodes/${uuid}`, patch);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await env.setProvisionState(uuid, 'active');
      return scope.bootAgentThrough(uuid, {
        waitState: 'wait call-back',
        endStates: ['active', 'deploy failed'],
        timeoutMs: 300_000,
        agent: baseAgent(),
      });
    };

    disk.writeGptAndExt4();
    let n = await deploy({ image_source: raw.url, image_checksum: md5, image_disk_format: 'raw' });
    assert.equal(n.last_error, null);
    assert.equal(n.provision_state, 'active');
    assert.ok(disk.readBytes(0, raw.bytes.length).equals(raw.bytes), 'the loop disk does not hold the image (MD5 image_checksum)');

    await env.setProvisionState(uuid, 'deleted');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    disk.writeGptAndExt4();
    n = await deploy({ image_source: raw.url, image_checksum: `${env.httpUrl}/MD5SUMS`, image_disk_format: 'raw' });
    assert.equal(n.last_error, null);
    assert.equal(n.provision_state, 'active');
    assert.ok(disk.readBytes(0, raw.bytes.length).equals(raw.bytes), 'the loop disk does not hold the image (md5sum checksum file)');
  });
});

test('agent on host, loop disk: manual cleaning runs a step of a custom hardware manager', { skip, timeout: 420_000 }, async () => {
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    const { dir, marker } = writeMarkerManager(scope);
    const uuid = await scope.enroll(nic.mac);
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.setProvisionState(uuid, 'clean', {
      clean_steps: [{ interface: 'deploy', step: 'write_marker', args: { text: 'hello from ironic' } }],
    });
    const n = await scope.bootAgentThrough(uuid, {
      waitState: 'clean wait',
      endStates: ['manageable'],
      timeoutMs: 240_000,
      agent: { ...baseAgent(), hardwareManagersDir: dir },
    });
    assert.equal(n.last_error, null);
    assert.ok(existsSync(marker), 'the custom step did not run (no marker file)');
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { node: string; text: string; ports: number };
    assert.equal(m.node, uuid);
    assert.equal(m.text, 'hello from ironic');
  });
});

test('agent on host, loop disk: cleaning survives an Ironic restart mid-flow', { skip, timeout: 480_000 }, async () => {
  // A private Ironic: the run's shared one serves other test files and is not ours to restart.
  const own = await startIronic();
  scope = new TestScope(own, disk);
  try {
    await withLogs(scope, async () => {
      disk.writeGptAndExt4();
      const uuid = await scope.enroll(nic.mac);
      await own.setProvisionState(uuid, 'manage');
      await own.waitForProvisionState(uuid, ['manageable'], 60_000);
      await own.setProvisionState(uuid, 'provide');
      await own.waitForProvisionState(uuid, ['clean wait'], 60_000);
      await scope.startAgent({ ...baseAgent(), apiUrl: own.apiUrl });
      // Restart once the conductor has accepted a heartbeat (agent_url recorded): mid-flow.
      await waitUntil(
        'first heartbeat accepted',
        async () => ((await own.getNode(uuid)).driver_internal_info.agent_url ? true : undefined),
        120_000,
      );
      const t0 = Date.now();
      await own.restart();
      console.log(`Ironic restarted in ${Date.now() - t0} ms while the node was '${(await own.getNode(uuid)).provision_state}'`);
      const n = await own.waitForProvisionState(uuid, ['available'], 300_000);
      assert.equal(n.last_error, null);
      assert.deepEqual(disk.signatures(), []);
    });
  } finally {
    // Nodes and agents go before their Ironic; afterEach then finds nothing left to do.
    await scope.cleanup();
    await own.stop();
  }
});

test('agent on host, loop disk: agent restart in the same boot keeps its token (second lookup gives ******)', {
  skip,
  timeout: 420_000,
}, async () => {
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    const { dir, marker } = writeMarkerManager(scope);
    const uuid = await scope.enroll(nic.mac);
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    // A slow step gives a quiet moment: the conductor waits for heartbeats and sends nothing.
    await env.setProvisionState(uuid, 'clean', { clean_steps: [{ interface: 'deploy', step: 'slow_marker', args: { seconds: 20 } }] });
    await env.waitForProvisionState(uuid, ['clean wait'], 60_000);
    const stateDir = mkdtempSync(join(tmpdir(), 'ramforge-boot-'));
    scope.tempDirs.push(stateDir);
    const agentOpts = { ...baseAgent(), stateDir, hardwareManagersDir: dir };
    const first = await scope.startAgent(agentOpts);
    await waitUntil('the slow step to start', async () => (existsSync(marker) ? true : undefined), 120_000);
    await first.stop();
    // Same boot: same state dir and port (the callback URL and the TLS certificate must not change within a boot).
    const second = await scope.startAgent({ ...agentOpts, port: first.port });
    const n = await env.waitForProvisionState(uuid, ['manageable'], 240_000);
    assert.equal(n.last_error, null);
    assert.match(second.logTail(400), /\*{6}|masked/i, 'the second agent should have seen the masked token from its lookup');
  });
});

test('agent on host, loop disk: Inspector accepts the inspection data and updates the node', { skip, timeout: 300_000 }, async () => {
  scope = new TestScope(env, disk);
  await withLogs(scope, async () => {
    assert.ok(env.inspectorUrl, 'the shared Ironic runs with Inspector');
    // The port is the agent's PXE NIC: Inspector finds the node by that MAC (a node without ports or a BMC
    // address cannot be matched), and that NIC has an IP. pxe_enabled starts false: Inspector must set it
    // from the BOOTIF the agent reports as boot.pxe_interface.
    const uuid = await scope.enroll(nic.mac, {
      fields: { inspect_interface: 'inspector' },
      properties: { cpu_arch: null },
      pxeEnabled: false,
    });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.startInspection(uuid);
    const n = await scope.bootAgentThrough(uuid, {
      waitState: 'inspect wait',
      endStates: ['manageable'],
      timeoutMs: 180_000,
      agent: { ...baseAgent(), inspectionCallbackUrl: `${env.inspectorUrl}/v1/continue` },
    });
    const st = await env.inspectorStatus(uuid);
    console.log(`inspector status: ${JSON.stringify(st.body)}; properties: ${JSON.stringify(n.properties)}`);
    assert.equal(st.body.finished, true);
    assert.equal(st.body.error, null);
    assert.equal(n.properties.cpu_arch, 'x86_64');
    assert.ok(Number(n.properties.cpus) >= 1, 'cpus not set');
    assert.ok(Number(n.properties.memory_mb) > 0, 'memory_mb not set');
    // Root disk = the 4 GiB loop disk; Inspector reserves 1 GiB.
    assert.equal(Number(n.properties.local_gb), Math.floor(disk.sizeBytes / 1024 ** 3) - 1);
    const ports = await env.api('GET', `/v1/ports?node_uuid=${uuid}&fields=address,pxe_enabled`);
    assert.ok(
      ports.body.ports.some((p: { address: string; pxe_enabled: boolean }) => p.address === nic.mac && p.pxe_enabled),
      `no pxe_enabled port ${nic.mac}: ${JSON.stringify(ports.body)}`,
    );
  });
});
