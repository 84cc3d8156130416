/**
 * Acceptance in a VM: the agent inside a built ramdisk (tinyipa) in qemu,
 * against the real Ironic on the host, and what cleaning leaves ON THE DISK:
 * every byte of the disk file is read back on the host afterwards. The last
 * two tests boot the dib ramdisk (test/support/dib-build.ts) and the coreos
 * one (test/support/coreos-build.ts) once each for automated cleaning, then,
 * in the same boot (fast track, driver_info/fast_track), a deploy of a raw
 * whole-disk image through the conductor; the disk file must then hold the
 * image byte for byte, and zeros after it.
 * Uses the shared test build (or the kernel and initramfs named by
 * RAMFORGE_TEST_KERNEL / RAMFORGE_TEST_INITRAMFS).
 *
 * Ironic runs with IPA's erase defaults (one random pass, then zeros; the
 * shared test Ironic asks for zeros only to keep other tests fast) and with
 * [deploy]erase_skip_read_only = True, which the conductor hands to the agent
 * as driver_internal_info agent_erase_skip_read_only.
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
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIronic, vmIronicSkip, type EnrollOptions, type IronicEnv } from '../support/ironic.js';
import {
  compareDiskWithImage,
  deployImage,
  printVmFailure,
  randomMbrImage,
  serveImage,
  startImageProxy,
  waitForPowerOff,
} from '../support/ironic-deploy.js';
import { readAt } from '../support/loopdisk.js';
import { bootVm, freePort, type BootVmOptions, type Vm } from '../support/qemu.js';
import { sharedBuild } from '../support/shared-build.js';
import { dibSharedBuild } from '../support/dib-build.js';
import { coreosSharedBuild } from '../support/coreos-build.js';

let kernel = process.env.RAMFORGE_TEST_KERNEL;
let initrd = process.env.RAMFORGE_TEST_INITRAMFS;
const skip = vmIronicSkip();
const MAC = '52:54:00:12:34:56';
const MiB = 1 << 20;
/** Small on purpose: TCG writes to a virtio disk at tens of MB/s. */
const DISK_SIZE = 256 * MiB;

let ironic: IronicEnv | undefined;
before(
  async () => {
    if (skip) return;
    ironic = await startIronic({
      extraConf: '[deploy]\nshred_random_overwrite_iterations = 1\nshred_final_overwrite_with_zeros = true\nerase_skip_read_only = true\n',
    });
    if (kernel && initrd) return;
    const b = await sharedBuild();
    kernel = b.kernel;
    initrd = b.initramfs;
  },
  { timeout: 30 * 60_000 },
);
after(() => ironic?.stop());

/** Where the previous tenant's bytes are: the start, inside partition 1 (at 1 MiB), the middle, the last MiB. */
const markerOffsets = (size: number): number[] => [64 * 1024, MiB + 4096, size / 2, size - 64 * 1024];
const MARKER = Buffer.alloc(4096, 'previous tenant data ');

/** A sparse disk with a GPT, a partition at 1 MiB and known non-zero bytes at several offsets. */
function makeTenantDisk(file: string, size: number): void {
  execFileSync('truncate', ['-s', String(size), file]);
  execFileSync('sgdisk', ['-n', '1:2048:+32M', '-t', '1:8300', file]);
  const fd = openSync(file, 'r+');
  try {
    for (const off of markerOffsets(size)) writeSync(fd, MARKER, 0, MARKER.length, off);
  } finally {
    closeSync(fd);
  }
  assert.equal(readAt(file, 512, 8).toString(), 'EFI PART');
  for (const off of markerOffsets(size)) assert.ok(readAt(file, off, 4096).equals(MARKER));
}

/** The offset of the first non-zero byte of the file, or -1: reads it all in 4 MiB chunks. */
function firstNonZero(file: string): number {
  const chunk = 4 * MiB;
  const buf = Buffer.alloc(chunk);
  const zero = Buffer.alloc(chunk);
  const fd = openSync(file, 'r');
  try {
    for (let pos = 0; ; pos += chunk) {
      const n = readSync(fd, buf, 0, chunk, pos);
      if (n === 0) return -1;
      if (!buf.subarray(0, n).equals(zero.subarray(0, n))) return pos + buf.subarray(0, n).findIndex((b) => b !== 0);
    }
  } finally {
    closeSync(fd);
  }
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** GET on the agent's API; it serves HTTPS with a self-signed certificate (ipa-enable-auto-tls), hence no verification. */
function getAgent(agentPort: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({ host: '127.0.0.1', port: agentPort, path, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => {
          text += d;
        })
        .on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
        });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`))).on('error', reject);
  });
}

/** The result of the last clean step `step`, from the agent's own command list (a Zed conductor sends no token on GET). */
async function cleanResult(agentPort: number, step: string): Promise<Record<string, unknown>> {
  const body = (await getAgent(agentPort, '/v1/commands/')) as {
    commands: Array<{ command_name: string; command_status: string; command_result: any }>;
  };
  const hit = body.commands.filter((c) => c.command_name === 'execute_clean_step' && c.command_result?.clean_step?.step === step).at(-1);
  assert.ok(hit, `the agent ran no ${step} step: ${JSON.stringify(body.commands.map((c) => c.command_name))}`);
  assert.equal(hit.command_status, 'SUCCEEDED');
  return hit.command_result.clean_result as Record<string, unknown>;
}

interface Run {
  env: IronicEnv;
  uuid: string;
  vm: Vm;
  agentPort: number;
  dir: string;
}

/** Enroll and manage a node, boot the ramdisk with `disks`, run `body`; always cleans up and prints logs on failure. */
async function withNode(
  name: string,
  disks: (dir: string) => Pick<BootVmOptions, 'disks' | 'extraArgs'>,
  bootFirst: boolean,
  body: (r: Run, boot: () => Promise<Vm>) => Promise<void>,
  image?: { kernel: string; initrd: string; memoryMiB?: number },
  node: Omit<EnrollOptions, 'mac' | 'name'> = {},
): Promise<void> {
  const env = ironic!;
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-vm-'));
  let vm: Vm | undefined;
  let uuid: string | undefined;
  try {
    const d = disks(dir);
    uuid = await env.enrollNode({ ...node, mac: MAC, name });
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    const agentPort = await freePort();
    const apiPort = new URL(env.apiUrl).port;
    const boot = async (): Promise<Vm> => {
      vm = await bootVm({
        kernel: image?.kernel ?? kernel,
        initrd: image?.initrd ?? initrd,
        // ipa-disk-wait-attempts=1: these disks are below the 4 GiB a root disk needs; do not wait 30 s for one.
        append: `console=ttyS0 ipa-api-url=http://10.0.2.2:${apiPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${agentPort} ipa-disk-wait-attempts=1`,
        memoryMiB: image?.memoryMiB ?? 1024,
        mac: MAC,
        hostfwd: [{ hostPort: agentPort, guestPort: 9999 }],
        serialLog: join(dir, 'serial.log'),
        ...d,
      });
      return vm;
    };
    if (bootFirst) await boot();
    await body({ env, uuid, vm: vm!, agentPort, dir }, boot);
  } catch (e) {
    printVmFailure(env, vm);
    throw e;
  } finally {
    await vm?.stop();
    if (uuid) await env.deleteNode(uuid).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The WWN of the SCSI disk skip_block_devices protects (qemu puts it in VPD page 0x83 as an NAA designator). */
const KEPT_WWN = '0x5000c500a1b2c3d4';

// One boot proves all three: the writable disk is zeroed byte for byte, the read-only one is skipped and unchanged,
// and a SCSI disk the node's skip_block_devices names by WWN is left alone (tinyipa has no udev: the WWN comes from sysfs).
test('automated cleaning (IPA defaults: 1 random pass + zeros) leaves every byte of the disk zero; a read-only disk is skipped (agent_erase_skip_read_only) and keeps every byte; a disk skip_block_devices names by WWN keeps every byte', {
  skip,
  timeout: 1_800_000,
}, async () => {
  let diskFile = '';
  let roFile = '';
  let roHash = '';
  let keptFile = '';
  let keptHash = '';
  await withNode(
    'vm-erase',
    (dir) => {
      diskFile = join(dir, 'disk.img');
      roFile = join(dir, 'ro.img');
      keptFile = join(dir, 'kept.img');
      makeTenantDisk(diskFile, DISK_SIZE);
      makeTenantDisk(roFile, 64 * MiB);
      makeTenantDisk(keptFile, 64 * MiB);
      roHash = sha256(roFile);
      keptHash = sha256(keptFile);
      return {
        disks: [{ path: diskFile, format: 'raw', serial: 'ramforge-disk0' }],
        extraArgs: [
          // A second virtio disk the guest cannot write (virtio-blk reports it read-only: /sys/block/vdb/ro = 1).
          '-drive',
          `if=none,id=rodisk,format=raw,readonly=on,file=${roFile}`,
          '-device',
          'virtio-blk-pci,drive=rodisk,serial=ramforge-ro',
          // A SCSI disk with a WWN, which the node's skip_block_devices names.
          '-device',
          'virtio-scsi-pci,id=scsi0',
          '-drive',
          `if=none,id=keptdisk,format=raw,file=${keptFile}`,
          '-device',
          `scsi-hd,drive=keptdisk,bus=scsi0.0,serial=RFKEPT01,wwn=${KEPT_WWN}`,
        ],
      };
    },
    true,
    async ({ env, uuid, vm, agentPort }) => {
      await env.setProvisionState(uuid, 'provide');
      const t0 = Date.now();
      const n = await env.waitForProvisionState(uuid, ['available'], 1_700_000);
      console.log(`in-VM automated cleaning of a ${DISK_SIZE / MiB} MiB disk took ${Date.now() - t0} ms`);
      assert.equal(n.last_error, null);
      assert.equal(n.driver_internal_info.agent_erase_skip_read_only, true);
      const result = await cleanResult(agentPort, 'erase_devices');
      console.log(`erase_devices result: ${JSON.stringify(result)}`);
      assert.deepEqual(Object.keys(result).sort(), ['/dev/vda', '/dev/vdb']);
      assert.match(String(result['/dev/vda']), /^overwrite: 1 random pass \+ zeros, verified \d+ samples$/);
      assert.equal(result['/dev/vdb'], 'skipped (read-only)');
      assert.match(vm.serialText(), /erase \/dev\/vda: pass 1\/2 \(random\) done/);
      console.log(
        `in the guest: ${vm
          .serialText()
          .match(/erase \/dev\/vda: pass .*|erase \/dev\/vda: overwrite: .* in [\d.]+ s/g)
          ?.join('; ')}`,
      );
      const bad = firstNonZero(diskFile);
      assert.equal(bad, -1, `byte ${bad} of the disk is not zero after cleaning`);
      assert.equal(sha256(roFile), roHash, 'the read-only disk is unchanged');
      // The agent saw the SCSI disk and left it out by its WWN (not merely missed it), and it kept every byte.
      assert.match(vm.serialText(), /skip_block_devices leaves out \/dev\/sda\b/);
      assert.equal(sha256(keptFile), keptHash, 'the disk skip_block_devices names by WWN is unchanged');
    },
    undefined,
    { properties: { skip_block_devices: [{ wwn: KEPT_WWN }] } },
  );
});

test('erase_devices_express (manual cleaning): only metadata goes, as in IPA; the data beyond it is expected to remain', {
  skip,
  timeout: 900_000,
}, async () => {
  let diskFile = '';
  await withNode(
    'vm-express',
    (dir) => {
      diskFile = join(dir, 'disk.img');
      makeTenantDisk(diskFile, DISK_SIZE);
      return { disks: [{ path: diskFile, format: 'raw', serial: 'ramforge-disk0' }] };
    },
    false,
    async ({ env, uuid, agentPort }, boot) => {
      // Ask first, then boot: the node waits in "clean wait" until the agent heartbeats.
      await env.setProvisionState(uuid, 'clean', { clean_steps: [{ interface: 'deploy', step: 'erase_devices_express' }] });
      await env.waitForProvisionState(uuid, ['clean wait'], 120_000);
      await boot();
      const n = await env.waitForProvisionState(uuid, ['manageable'], 800_000);
      assert.equal(n.last_error, null);
      const result = await cleanResult(agentPort, 'erase_devices_express');
      assert.deepEqual(result, { '/dev/vda': 'metadata only (partition tables and signatures; the data beyond them remains)' });
      assert.notEqual(readAt(diskFile, 512, 8).toString(), 'EFI PART', 'primary GPT header still present');
      assert.notEqual(readAt(diskFile, DISK_SIZE - 512, 8).toString(), 'EFI PART', 'backup GPT header still present');
      assert.equal(execFileSync('wipefs', ['-n', diskFile], { encoding: 'utf8' }).trim(), '', 'no signature left');
      // IPA's express erase is metadata only: the tenant's bytes inside and past the partition stay.
      for (const off of markerOffsets(DISK_SIZE).slice(1))
        assert.ok(readAt(diskFile, off, 4096).equals(MARKER), `data at ${off} is expected to remain`);
    },
  );
});

/** The raw whole-disk image the flavor tests deploy (random bytes behind an MBR). */
const IMAGE_SIZE = 64 * MiB;

/**
 * One boot of another flavor's ramdisk: automated cleaning (IPA defaults)
 * leaves every byte zero; then, the agent still up (fast track), a deploy of
 * a raw whole-disk image through the conductor to `active`, and the disk
 * file holds the image byte for byte and the cleaning's zeros after it.
 */
async function cleanThenDeploy(flavor: string, ramdisk: { kernel: string; initrd: string; memoryMiB: number }): Promise<void> {
  let diskFile = '';
  const proxy = await startImageProxy();
  try {
    await withNode(
      `vm-${flavor}-deploy`,
      (dir) => {
        diskFile = join(dir, 'disk.img');
        makeTenantDisk(diskFile, DISK_SIZE);
        return { disks: [{ path: diskFile, format: 'raw', serial: 'ramforge-disk0' }] };
      },
      false,
      async ({ env, uuid }, boot) => {
        // Ask first, then boot: the conductor (fake power) "reboots" the node and waits for the agent.
        await env.setProvisionState(uuid, 'provide');
        await env.waitForProvisionState(uuid, ['clean wait'], 120_000);
        const t0 = Date.now();
        const vm = await boot();
        let n = await env.waitForProvisionState(uuid, ['available'], 2_000_000);
        console.log(`${flavor}: boot + automated cleaning of a ${DISK_SIZE / MiB} MiB disk took ${Date.now() - t0} ms`);
        assert.equal(n.last_error, null);
        assert.equal(n.power_state, 'power on', 'fast track: the conductor left the agent running after cleaning');
        const agentPort = Number(new URL(String(n.driver_internal_info.agent_url)).port);
        const result = await cleanResult(agentPort, 'erase_devices');
        assert.match(String(result['/dev/vda']), /^overwrite: 1 random pass \+ zeros, verified \d+ samples$/);
        const bad = firstNonZero(diskFile);
        assert.equal(bad, -1, `byte ${bad} of the disk is not zero after cleaning with the ${flavor} ramdisk`);

        const bytes = randomMbrImage(IMAGE_SIZE);
        const image = serveImage(env, `${flavor}-deploy.raw`, bytes);
        try {
          n = await deployImage(env, uuid, { image, proxy, label: `${flavor}: fast-track deploy of a ${IMAGE_SIZE / MiB} MiB raw image` });
          assert.equal(n.last_error, null);
          assert.equal(n.driver_internal_info.is_whole_disk_image, true);
          assert.ok(await waitForPowerOff(vm), 'the agent powered the VM off (standby.power_off at the end of the deploy)');
        } finally {
          image.remove();
        }
        const cmp = compareDiskWithImage(diskFile, bytes);
        assert.equal(cmp.firstDifference, -1, `byte ${cmp.firstDifference} of the disk differs from the image`);
        assert.equal(cmp.firstNonZeroAfter, -1, `byte ${cmp.firstNonZeroAfter} after the image is not zero`);
      },
      ramdisk,
      // Fast track: the conductor keeps the agent (and its token) after cleaning and deploys through it without a reboot.
      { driverInfo: { fast_track: true }, properties: { root_device: { name: '/dev/vda' } } },
    );
  } finally {
    await proxy.close();
  }
}

test('dib ramdisk, one boot: automated cleaning through the real Ironic leaves every byte of the disk zero; a fast-track deploy of a raw whole-disk image leaves the image on the disk byte for byte', {
  skip,
  timeout: 2_400_000,
}, async () => {
  const dib = await dibSharedBuild();
  await cleanThenDeploy('dib', { kernel: dib.kernel, initrd: dib.initramfs, memoryMiB: 1024 });
});

test('coreos ramdisk, one boot: automated cleaning through the real Ironic leaves every byte of the disk zero; a fast-track deploy of a raw whole-disk image leaves the image on the disk byte for byte', {
  skip,
  timeout: 3_600_000,
}, async () => {
  const coreos = await coreosSharedBuild();
  await cleanThenDeploy('coreos', { kernel: coreos.kernel, initrd: coreos.initramfs, memoryMiB: 1536 });
});
