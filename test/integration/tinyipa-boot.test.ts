/**
 * The tinyipa ISO boots in qemu (TCG, 512 MiB) on BIOS and on UEFI and the
 * agent answers GET /v1/status through a hostfwd port on 127.0.0.1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedBuild, type SharedBuild } from '../support/shared-build.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';

let b: SharedBuild;
// Like a real target, the VM has a disk: without one the agent, as IPA does,
// first waits ~30 s for a root disk to appear before serving its API.
const scratch = mkdtempSync(join(tmpdir(), 'ramforge-boot-'));
const disk = join(scratch, 'disk.img');
execFileSync('truncate', ['-s', '8G', disk]);
before(async () => { b = await sharedBuild(); }, { timeout: 30 * 60_000 });
after(() => rmSync(scratch, { recursive: true, force: true }));

async function bootAndCheck(name: string, opts: Parameters<typeof bootVm>[0], timeoutMs: number): Promise<void> {
  const port = await freePort();
  let vm: Vm | undefined;
  try {
    vm = await bootVm({ memoryMiB: 512, hostfwd: [{ hostPort: port, guestPort: 9999 }], disks: [{ path: disk, format: 'raw' }], ...opts });
    const r = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, timeoutMs);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { started_at: number; version: string };
    assert.equal(typeof body.started_at, 'number');
    assert.equal(typeof body.version, 'string');
    const root = await fetch(`http://127.0.0.1:${port}/`).then((x) => x.json() as Promise<{ name: string }>);
    assert.equal(root.name, 'OpenStack Ironic Python Agent API');
    process.stderr.write(`[boot] ${name}: /v1/status after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`[boot] ${name} serial log:\n${vm?.serialText().slice(-6000) ?? ''}\n`);
    throw e;
  } finally {
    await vm?.stop();
  }
}

// The direct kernel + initramfs boot is agent-vm.test.ts's (same build, the agent cleans a disk for the real Ironic).
test('tinyipa: the ISO boots on BIOS (isolinux) and the agent answers', { timeout: 300_000 }, async () => {
  await bootAndCheck('iso-bios', { iso: b.iso, firmware: 'bios' }, 240_000);
});

test('tinyipa: the ISO boots on UEFI (OVMF, GRUB) and the agent answers', { timeout: 300_000 }, async () => {
  await bootAndCheck('iso-uefi', { iso: b.iso, firmware: 'uefi' }, 240_000);
});

test('tinyipa: manifest lists packages, Node, kernel, sizes and timings', () => {
  const m = b.manifest;
  assert.equal(m.flavor, 'tinyipa');
  assert.ok(m.packages.some((p: { name: string }) => p.name === 'busybox-static'));
  assert.match(m.node.version, /^\d+\.\d+\.\d+$/);
  assert.match(m.kernel.version, /^\d+\.\d+/);
  assert.ok(m.kernel.modules.count > 50, `modules: ${m.kernel.modules.count}`);
  const kinds = m.artifacts.map((a: { kind: string }) => a.kind).sort();
  assert.deepEqual(kinds, ['initramfs', 'iso', 'kernel']);
  assert.ok(m.timings['assemble-rootfs'] > 0);
});
