/**
 * Inspection data of a replayed machine (agent/test/fixtures/server-r640)
 * against the REAL ironic-inspector 11.1: the payload, legacy keys included,
 * is accepted, the node UUID comes back, and the inspector's hooks derive the
 * node properties from our inventory (cpus, memory_mb, local_gb, cpu_arch),
 * and map the CPU flags to capabilities.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDefaultConfig } from '../../agent/src/config.js';
import { runInspection } from '../../agent/src/inspect/index.js';
import { createMemoryLog } from '../../agent/test/support/logs.js';
import { sharedIronic, stopSharedIronic } from '../support/ironic.js';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../agent/test/fixtures/server-r640');
const PXE_MAC = '24:6e:96:11:22:30';

after(() => stopSharedIronic());

test('real ironic-inspector accepts the server-r640 inspection data', { timeout: 240_000 }, async () => {
  const env = await sharedIronic();
  assert.ok(env.inspectorUrl, 'the shared Ironic runs with Inspector');
  let uuid: string | undefined;
  try {
    uuid = await env.enrollNode({ mac: PXE_MAC, name: 'r640-fixture', fields: { inspect_interface: 'inspector' } });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 30_000);
    await env.startInspection(uuid);
    await env.waitForProvisionState(uuid, ['inspect wait'], 60_000);
    const { lines: logs, ...log } = createMemoryLog();
    const got = await runInspection(
      {
        ...createDefaultConfig(),
        rootPath: FIXTURE,
        bootif: `01-${PXE_MAC.replace(/:/g, '-')}`,
        inspectionCallbackUrl: [`${env.inspectorUrl}/v1/continue`],
        inspectionCollectors: ['default', 'logs', 'pci-devices', 'numa-topology', 'dmi-decode'],
      },
      { log },
    );
    assert.equal(got, uuid, `inspector answered no uuid; agent log: ${logs.join('; ')}`);
    const n = await env.waitForProvisionState(uuid, ['manageable'], 120_000);
    const p = n.properties as Record<string, unknown>;
    console.log(`properties after inspection: ${JSON.stringify(p)}`);
    assert.equal(Number(p.cpus), 64);
    assert.equal(Number(p.memory_mb), 196608);
    assert.equal(Number(p.local_gb), 446);
    assert.equal(p.cpu_arch, 'x86_64');
    // The capabilities hook maps our CPU flags (boot_mode is off by default in [capabilities]).
    assert.match(String(p.capabilities ?? ''), /cpu_vt:true.*cpu_aes:true.*cpu_hugepages_1g:true.*cpu_txt:true/);
    const st = await env.inspectorStatus(uuid);
    assert.equal(st.body.finished, true);
    assert.equal(st.body.error, null);
  } catch (e) {
    console.error(env.logTail(80));
    throw e;
  } finally {
    if (uuid) await env.deleteNode(uuid).catch(() => {});
  }
});
