/**
 * Acceptance in a VM: the agent inside a built ramdisk (tinyipa) in qemu,
 * against the real Ironic on the host. Uses the shared test build (or the
 * kernel and initramfs named by RAMFORGE_TEST_KERNEL / RAMFORGE_TEST_INITRAMFS).
 *
 * Networking (real-ironic.md): the guest reaches the host's 127.0.0.1
 * services as 10.0.2.2 through slirp; the conductor reaches the guest's agent
 * through a hostfwd on 127.0.0.1:PORT, which the agent advertises. No host
 * process ever connects to 10.0.2.2.
 *
 *   RAMFORGE_TEST_KERNEL=… RAMFORGE_TEST_INITRAMFS=… node --import tsx --test test/integration/agent-vm.test.ts
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedIronic, stopSharedIronic } from '../support/ironic.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';

let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/bin/ironic') ? 'Ironic is not installed: run ./ramforge doctor --for test --fix' : false;

before(async () => {
  if (skip || (kernel && initrd)) return;
  const b = await sharedBuild();
  kernel = b.kernel;
  initrd = b.initramfs;
}, { timeout: 30 * 60_000 });
const MAC = '52:54:00:12:34:56';

after(() => stopSharedIronic());

function readFileBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally { closeSync(fd); }
}

test('agent in VM: manage + provide → available, the virtio disk GPT is gone', { skip, timeout: 1_200_000 }, async () => {
  const env = await sharedIronic();
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-vm-'));
  const diskFile = join(dir, 'disk.img');
  let vm: Vm | undefined;
  let uuid: string | undefined;
  try {
    // A 4 GiB sparse disk with a GPT and one partition: what cleaning must erase.
    execFileSync('truncate', ['-s', '4G', diskFile]);
    execFileSync('sgdisk', ['-n', '1:2048:+32M', '-t', '1:8300', diskFile]);
    assert.equal(readFileBytes(diskFile, 512, 8).toString(), 'EFI PART');

    uuid = await env.enrollNode({ mac: MAC, name: 'vm-node' });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);

    const agentPort = await freePort();
    const apiPort = new URL(env.apiUrl).port;
    vm = await bootVm({
      kernel, initrd,
      append: `console=ttyS0 ipa-api-url=http://10.0.2.2:${apiPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${agentPort}`,
      memoryMiB: 1024,
      mac: MAC,
      hostfwd: [{ hostPort: agentPort, guestPort: 9999 }],
      disks: [{ path: diskFile, format: 'raw', serial: 'ramforge-disk0' }],
      serialLog: join(dir, 'serial.log'),
    });
    await env.setProvisionState(uuid, 'provide');
    const t0 = Date.now();
    const n = await env.waitForProvisionState(uuid, ['available'], 1_000_000);
    console.log(`in-VM automated cleaning took ${Date.now() - t0} ms`);
    assert.equal(n.last_error, null);
    assert.notEqual(readFileBytes(diskFile, 512, 8).toString(), 'EFI PART', 'primary GPT header still present');
    const size = 4 * 1024 ** 3;
    assert.notEqual(readFileBytes(diskFile, size - 512, 8).toString(), 'EFI PART', 'backup GPT header still present');
  } catch (e) {
    console.error(env.logTail(80));
    if (vm) console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-80).join('\n')}`);
    throw e;
  } finally {
    await vm?.stop();
    if (uuid) await env.deleteNode(uuid).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
