/**
 * The real-Ironic harness itself: Ironic + Inspector come up, a node enrolls
 * and `manage` works (fake-hardware power/management need no agent).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sharedIronic, stopSharedIronic } from '../support/ironic.js';

after(() => stopSharedIronic());

test('real Ironic harness: API, conductor, inspector up; enroll + manage', { timeout: 180_000 }, async () => {
  const t0 = Date.now();
  const env = await sharedIronic();
  const startMs = Date.now() - t0;
  try {
    const root = await env.api('GET', '/');
    assert.equal(root.status, 200);
    assert.match(root.body.default_version.version, /^1\.\d+$/);
    const insp = await env.inspectorApi('GET', '/v1');
    assert.equal(insp.status, 200);
    const uuid = await env.enrollNode({ mac: '52:54:00:aa:bb:cc', name: 'harness-node' });
    let n = await env.getNode(uuid);
    assert.equal(n.provision_state, 'enroll');
    await env.setProvisionState(uuid, 'manage');
    n = await env.waitForProvisionState(uuid, ['manageable'], 30_000);
    assert.equal(n.provision_state, 'manageable');
    // Lookup answers 404 outside a wait state (real-ironic.md), with the version header.
    const lk = await fetch(`${env.apiUrl}/v1/lookup?addresses=52:54:00:aa:bb:cc`, {
      headers: { 'X-OpenStack-Ironic-API-Version': '1.62' },
    });
    assert.equal(lk.status, 404);
    await env.deleteNode(uuid);
    // The image server answers HEAD like the conductor expects.
    const h = await fetch(`${env.httpUrl}/nothing-here`, { method: 'HEAD' });
    assert.equal(h.status, 404);
    console.log(`ironic+inspector ready in ${startMs} ms`);
  } catch (e) {
    console.error(env.logTail());
    throw e;
  }
});

test('agent sandbox: only the loop disk is visible, host disks are read-only, power commands are faked', { timeout: 60_000 }, async () => {
  const { createLoopDisk } = await import('../support/loopdisk.js');
  const { startAgent } = await import('../support/agent-process.js');
  const { writeFileSync, mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const disk = createLoopDisk({ sizeBytes: 64 << 20 });
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-fake-agent-'));
  const report = join(dir, 'report.json');
  // A stand-in agent: records what it can see and do, then serves /v1/status on the cmdline's port.
  writeFileSync(
    join(dir, 'fake-agent.mjs'),
    `
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
const cmdline = readFileSync(process.argv[process.argv.indexOf('--cmdline') + 1], 'utf8');
const port = Number(/ipa-listen-port=(\\d+)/.exec(cmdline)[1]);
const lsblk = execFileSync('lsblk', ['-dnro', 'KNAME'], { encoding: 'utf8' }).trim().split('\\n');
const writable = {};
for (const d of execFileSync('sh', ['-c', 'find /dev -type b'], { encoding: 'utf8' }).trim().split('\\n')) {
  try { execFileSync('sh', ['-c', 'exec 3>>"$0"', d]); writable[d] = true; } catch { writable[d] = false; }
}
execFileSync('poweroff', ['-f']);
writeFileSync(${JSON.stringify(report)}, JSON.stringify({ lsblk, writable, env: process.env.RAMFORGE_AGENT_DISKS }));
createServer((q, r) => r.end('{}')).listen(port, '127.0.0.1');
`,
  );
  const { assertOwnLoopDevice } = await import('../support/loopdisk.js');
  assert.throws(() => assertOwnLoopDevice('/dev/vda'), /only \/dev\/loopN/);
  assert.throws(() => assertOwnLoopDevice('/dev/loop99'), /not attached by this test/);
  await assert.rejects(startAgent({ disks: ['/dev/vda'] }), /refusing to give \/dev\/vda/);
  try {
    const agent = await startAgent({ disks: [disk.device], program: [process.execPath, join(dir, 'fake-agent.mjs')] });
    const r = JSON.parse(readFileSync(report, 'utf8')) as { lsblk: string[]; writable: Record<string, boolean>; env: string };
    await agent.stop();
    const power = agent.powerLog();
    agent.remove();
    assert.deepEqual(r.lsblk, [disk.kname]);
    assert.equal(r.env, disk.device);
    const writable = Object.entries(r.writable)
      .filter(([, w]) => w)
      .map(([d]) => d);
    assert.ok(
      writable.every((d) => d === disk.device || d.startsWith(`${disk.device}p`)),
      `writable outside the loop disk: ${writable.join(', ')}`,
    );
    assert.ok(writable.includes(disk.device));
    assert.deepEqual(power, ['poweroff -f']);
  } finally {
    disk.detach();
    rmSync(dir, { recursive: true, force: true });
  }
});
