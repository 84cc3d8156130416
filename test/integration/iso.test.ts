/**
 * makeIso end to end with the real tools: a Debian cloud kernel and a
 * busybox initramfs whose /init prints a marker (with /proc/cmdline) on the
 * serial console and powers off. Boots the ISO as a CD and as a dd'ed USB
 * disk on SeaBIOS and OVMF; checks reproducibility and the MBR/GPT/ESP
 * structure. One direct boot (-kernel/-initrd) also exercises
 * test/support/qemu.ts networking (hostfwd to a busybox httpd in the guest).
 *
 * Run: node --import tsx --test test/integration/iso.test.ts
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { findTool, run } from '../../builder/src/exec/run.js';
import { makeIso, type MakeIsoResult } from '../../builder/src/outputs/iso.js';
import { findMissingIsoTools } from '../../builder/src/outputs/iso-tools.js';
import { OVMF_CODE, bootVm, freePort, type BootVmOptions } from '../support/qemu.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KERNEL_CACHE = join(REPO, '.cache', 'test-kernel');
const MARKER = /RAMFORGE-ISO-TEST-OK cmdline=\[[^\]\n]*\]/;
const EPOCH = 1700000000;
const APPEND = 'console=ttyS0 ramforge.test=iso';
const BOOT_TIMEOUT_MS = 240_000;

function whyMissing(): string | undefined {
  const missing = findMissingIsoTools().map((t) => t.pkg);
  for (const [tool, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cpio', 'cpio'],
    ['busybox', 'busybox-static'],
    ['apt-get', 'apt'],
  ]) {
    if (!findTool(tool!)) missing.push(pkg!);
  }
  if (!existsSync(OVMF_CODE)) missing.push('ovmf');
  return missing.length ? `missing Debian packages: ${[...new Set(missing)].join(' ')}` : undefined;
}

/** virtio-net and what it needs, in load order (modinfo -F depends; all modules in the cloud kernel). */
const NET_MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
];

interface TestKernel {
  kernel: string;
  /** Directory holding the NET_MODULES files (flat). */
  modules: string;
}

/** The Debian cloud kernel (+ virtio-net modules), downloaded once into .cache/test-kernel/ and reused. */
async function ensureTestKernel(): Promise<TestKernel> {
  await mkdir(KERNEL_CACHE, { recursive: true });
  let pkg: string | undefined;
  try {
    const deps = await run(['apt-cache', 'depends', 'linux-image-cloud-amd64']);
    pkg = /Depends: (linux-image-[0-9]\S*)/.exec(deps.stdout)?.[1];
  } catch {
    // No apt metadata (offline): fall back to whatever is cached.
  }
  const cached = (await readdir(KERNEL_CACHE)).filter((f) => f.startsWith('vmlinuz-')).sort();
  const release = pkg ? pkg.replace(/^linux-image-/, '') : cached[cached.length - 1]?.replace(/^vmlinuz-/, '');
  if (!release) throw new Error('cannot resolve linux-image-cloud-amd64 and no kernel is cached');
  const found = { kernel: join(KERNEL_CACHE, `vmlinuz-${release}`), modules: join(KERNEL_CACHE, `modules-${release}`) };
  if (existsSync(found.kernel) && existsSync(found.modules)) return found;
  if (!pkg) throw new Error(`the cached kernel ${release} is incomplete and apt cannot resolve linux-image-cloud-amd64`);
  const dl = await mkdtemp(join(KERNEL_CACHE, 'dl-'));
  try {
    await run(['apt-get', 'download', pkg], { cwd: dl });
    const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    const tar = join(dl, 'data.tar');
    const fh = await open(tar, 'w');
    const ws = fh.createWriteStream();
    await run(['dpkg-deb', '--fsys-tarfile', join(dl, deb)], { stdout: ws });
    await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
    const modPaths = NET_MODULES.map((m) => `./lib/modules/${release}/kernel/${m}`);
    await run(['tar', '-xf', tar, `./boot/vmlinuz-${release}`, ...modPaths], { cwd: dl });
    const mods = join(dl, 'mods');
    await mkdir(mods);
    for (const m of modPaths) await rename(join(dl, m), join(mods, m.split('/').pop()!));
    await rm(found.modules, { recursive: true, force: true });
    await rename(mods, found.modules);
    await rename(join(dl, 'boot', `vmlinuz-${release}`), found.kernel);
    return found;
  } finally {
    await rm(dl, { recursive: true, force: true });
  }
}

const MARKER_INIT = ['echo "RAMFORGE-ISO-TEST-OK cmdline=[$(cat /proc/cmdline)]"', 'poweroff -f'];

/** Prints the marker, loads virtio-net, takes slirp's fixed address and serves one page on port 8080. */
const HTTP_INIT = [
  MARKER_INIT[0]!,
  ...NET_MODULES.map((m) => `insmod /mod/${m.split('/').pop()}`),
  'ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0',
  'mkdir -p /www; echo ramforge-http-ok > /www/index.html',
  'httpd -p 8080 -h /www',
  'echo RAMFORGE-HTTP-READY',
  'exec sleep 3600',
];

/** A newc initramfs (GNU cpio) of busybox-static, `modules` under /mod, and an /init running `script`. */
async function makeTestInitrd(dir: string, name: string, script: string[], modules?: string): Promise<string> {
  const root = join(dir, `${name}-root`);
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  const list = ['.', './bin', './bin/busybox', './init'];
  if (modules) {
    await mkdir(join(root, 'mod'));
    list.push('./mod');
    for (const m of (await readdir(modules)).sort()) {
      await copyFile(join(modules, m), join(root, 'mod', m));
      list.push(`./mod/${m}`);
    }
  }
  await writeFile(
    join(root, 'init'),
    [
      '#!/bin/busybox sh',
      'export PATH=/sbin:/usr/sbin:/bin:/usr/bin',
      '/bin/busybox mkdir -p /dev /proc /sbin /usr/bin /usr/sbin',
      '/bin/busybox mount -t devtmpfs devtmpfs /dev',
      '/bin/busybox mount -t proc proc /proc',
      // --install reads /proc/self/exe, hence after mounting /proc.
      '/bin/busybox --install -s',
      // The kernel opened no console (the cpio has no /dev/console): take it now.
      'exec >/dev/console 2>&1',
      ...script,
      '',
    ].join('\n'),
  );
  await chmod(join(root, 'init'), 0o755);
  const out = join(dir, `${name}.cpio`);
  const fh = await open(out, 'w');
  const ws = fh.createWriteStream();
  await run(['cpio', '--quiet', '-o', '-H', 'newc', '-R', '0:0', '--reproducible'], {
    cwd: root,
    input: `${list.sort().join('\n')}\n`,
    stdout: ws,
  });
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
  return out;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

const skip = whyMissing();

describe('iso integration', { skip }, () => {
  let dir = '';
  let kernel = '';
  let initrd = '';
  let modules = '';
  let iso: MakeIsoResult;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ramforge-iso-it-'));
    ({ kernel, modules } = await ensureTestKernel());
    initrd = await makeTestInitrd(dir, 'marker', MARKER_INIT);
    const t0 = Date.now();
    iso = await makeIso({
      kernel,
      initrd,
      out: join(dir, 'out', 'test.iso'),
      append: APPEND,
      epoch: EPOCH,
      workDir: join(dir, 'work1'),
      timeoutSeconds: 0,
    });
    console.error(`# makeIso: ${iso.size} bytes in ${Date.now() - t0} ms`);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Boot, wait for the marker and the guest's own power-off; returns the cmdline the guest saw. */
  async function bootAndWait(name: string, opts: BootVmOptions, t: { diagnostic(s: string): void }): Promise<string> {
    const vm = await bootVm({ ...opts, serialLog: join(dir, `serial-${name}.log`) });
    try {
      const line = await vm.waitForSerial(MARKER, BOOT_TIMEOUT_MS);
      const markerMs = Date.now() - vm.startedAt;
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        vm.exited(),
        new Promise((r) => {
          timer = setTimeout(() => r('still running'), 60_000);
        }),
      ]);
      clearTimeout(timer);
      t.diagnostic(`${name}: marker after ${markerMs} ms, qemu exit ${String(code)} after ${Date.now() - vm.startedAt} ms`);
      assert.equal(code, 0, `${name}: the guest should power off and qemu exit 0`);
      return line;
    } finally {
      await vm.stop();
    }
  }

  // One direct boot (-kernel/-initrd/-append) proves the command line and the port forward; the
  // guest's own power-off (qemu exit 0) is checked by the ISO boots below.
  it('boots the kernel and initrd directly with the command line, and forwards a guest port to 127.0.0.1 (hostfwd, freePort, waitForHttp, stop)', async (t) => {
    const httpInitrd = await makeTestInitrd(dir, 'http', HTTP_INIT, modules);
    const port = await freePort();
    const vm = await bootVm({
      kernel,
      initrd: httpInitrd,
      append: APPEND,
      hostfwd: [{ hostPort: port, guestPort: 8080 }],
      serialLog: join(dir, 'serial-http.log'),
    });
    try {
      assert.match(await vm.waitForSerial(MARKER, BOOT_TIMEOUT_MS), /ramforge\.test=iso/);
      await vm.waitForSerial(/RAMFORGE-HTTP-READY/, BOOT_TIMEOUT_MS);
      const res = await vm.waitForHttp(`http://127.0.0.1:${port}/`, 60_000);
      t.diagnostic(`http: answered after ${res.ms} ms`);
      assert.equal(res.status, 200);
      assert.equal(res.body.trim(), 'ramforge-http-ok');
      await assert.rejects(vm.waitForHttp('http://10.0.2.2:8080/', 1000), /not on loopback/);
    } finally {
      await vm.stop();
    }
    assert.throws(() => process.kill(vm.pid, 0), { code: 'ESRCH' }, 'qemu is gone after stop()');
  });

  const boots: [string, BootVmOptions['firmware'], BootVmOptions['isoMedia']][] = [
    ['bios-cdrom', 'bios', 'cdrom'],
    ['uefi-cdrom', 'uefi', 'cdrom'],
    ['bios-usb', 'bios', 'disk'],
    ['uefi-usb', 'uefi', 'disk'],
  ];
  for (const [name, firmware, isoMedia] of boots) {
    it(`boots the ISO (${name}) with boot_method=vmedia`, async (t) => {
      const line = await bootAndWait(name, { iso: iso.path, firmware, isoMedia }, t);
      assert.match(line, /(^|[\s[])boot_method=vmedia\s/);
      assert.match(line, /ramforge\.test=iso/);
    });
  }

  it('is byte-identical when rebuilt elsewhere later, and differs when the inputs do', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const again = await makeIso({
      kernel,
      initrd,
      out: join(dir, 'out2', 'again.iso'),
      append: APPEND,
      epoch: EPOCH,
      workDir: join(dir, 'other-work'),
      timeoutSeconds: 0,
    });
    assert.equal(await sha256(again.path), await sha256(iso.path));
    const other = await makeIso({
      kernel,
      initrd,
      out: join(dir, 'out3', 'other.iso'),
      append: `${APPEND} x=1`,
      epoch: EPOCH,
      workDir: join(dir, 'w3'),
      timeoutSeconds: 0,
    });
    assert.notEqual(await sha256(other.path), await sha256(iso.path));
    assert.ok(!existsSync(`${again.path}.partial`));
    // The Debian kernel is signed, so the default (secureBoot: auto) takes Debian's signed shim and GRUB.
    assert.deepEqual(
      Object.keys(iso.bootloaders).sort(),
      iso.secureBoot
        ? ['grub-efi-amd64-signed', 'isolinux', 'shim-signed', 'syslinux-common']
        : ['grub-common', 'grub-efi-amd64-bin', 'isolinux', 'syslinux-common'],
    );
  });

  it('has an MBR with a bootable entry and an ESP, a GPT with valid CRCs, and a FAT ESP holding BOOTX64.EFI', async () => {
    const img = await readFile(iso.path);
    assert.equal(img.readUInt16LE(510), 0xaa55, 'MBR signature');
    const parts = [0, 1, 2, 3].map((i) => {
      const e = img.subarray(446 + 16 * i, 462 + 16 * i);
      return { boot: e[0]!, type: e[4]!, start: e.readUInt32LE(8), sectors: e.readUInt32LE(12) };
    });
    assert.ok(
      parts.some((p) => p.boot === 0x80 && p.sectors > 0),
      'a bootable MBR partition (isohybrid)',
    );
    const esp = parts.find((p) => p.type === 0xef);
    assert.ok(esp && esp.sectors > 0, 'an MBR partition of type 0xEF');

    const hdr = img.subarray(512, 1024);
    assert.equal(hdr.subarray(0, 8).toString('latin1'), 'EFI PART', 'primary GPT header');
    const size = hdr.readUInt32LE(12);
    const h = Buffer.from(hdr.subarray(0, size));
    const crc = h.readUInt32LE(16);
    h.writeUInt32LE(0, 16);
    assert.equal(crc32(h), crc, 'GPT header CRC');
    const entriesLba = Number(hdr.readBigUInt64LE(72));
    const entries = img.subarray(entriesLba * 512, entriesLba * 512 + hdr.readUInt32LE(80) * hdr.readUInt32LE(84));
    assert.equal(crc32(entries), hdr.readUInt32LE(88), 'GPT entries CRC');
    const backupLba = Number(hdr.readBigUInt64LE(32));
    assert.equal(backupLba, img.length / 512 - 1, 'backup GPT header at the last sector');
    assert.equal(img.subarray(backupLba * 512, backupLba * 512 + 8).toString('latin1'), 'EFI PART');

    const dirList = await run(['mdir', '-i', `${iso.path}@@${esp.start * 512}`, '::/EFI/BOOT'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    assert.match(dirList.stdout, /BOOTX64\s+EFI/);
  });

  it('removes the .partial file and keeps no output when xorriso fails', async () => {
    const bin = join(dir, 'fake-bin');
    await mkdir(bin, { recursive: true });
    // Writes some of the image, then fails like a full disk would.
    await writeFile(
      join(bin, 'xorriso'),
      '#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\necho partial > "$2"\necho "xorriso : FAILURE : fake" >&2\nexit 5\n',
    );
    await chmod(join(bin, 'xorriso'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    const out = join(dir, 'fail', 'x.iso');
    try {
      await assert.rejects(makeIso({ kernel, initrd, out, workDir: join(dir, 'wf') }), /xorriso exited with code 5/);
    } finally {
      process.env.PATH = savedPath;
    }
    assert.ok(!existsSync(`${out}.partial`), '.partial removed');
    assert.ok(!existsSync(out), 'no output');
    assert.deepEqual(await readdir(join(dir, 'wf')), [], 'work dir cleaned');
  });

  it('ramforge iso: -o and --uki are replaced together or not at all, and an interrupt leaves both as they were', async () => {
    const cli = join(REPO, 'ramforge');
    const outDir = join(dir, 'cli');
    await mkdir(outDir);
    const isoOut = join(outDir, 'a.iso');
    const ukiOut = join(outDir, 'a.efi');
    const env = { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) };
    const args = (append: string, uki = ukiOut) => [
      'iso',
      '-k',
      kernel,
      '-i',
      initrd,
      '-o',
      isoOut,
      '--uki',
      uki,
      '--append',
      append,
      '--no-install',
    ];

    const ok = spawnSync(cli, [...args(APPEND), '--json'], { encoding: 'utf8', env });
    assert.equal(ok.status, 0, ok.stderr);
    const summary = JSON.parse(ok.stdout) as { iso: { path: string; partial?: string }; uki: { path: string; partial?: string } };
    assert.equal(summary.iso.path, isoOut);
    assert.equal(summary.uki.path, ukiOut);
    assert.equal(summary.iso.partial, undefined);
    assert.equal((await readFile(ukiOut)).subarray(0, 2).toString('latin1'), 'MZ');
    const isoSum = await sha256(isoOut);
    const ukiSum = await sha256(ukiOut);
    const listing = async () => (await readdir(outDir)).sort();
    assert.deepEqual(await listing(), ['a.efi', 'a.iso']);

    // The UKI cannot be written (its directory is a file): the ISO made before it is not published either.
    await writeFile(join(outDir, 'not-a-dir'), '');
    const bad = spawnSync(cli, args('changed=1', join(outDir, 'not-a-dir', 'a.efi')), { encoding: 'utf8', env });
    assert.notEqual(bad.status, 0, bad.stderr);
    assert.match(bad.stderr, /not-a-dir/);
    assert.equal(await sha256(isoOut), isoSum, 'the ISO is as it was');
    assert.deepEqual(await listing(), ['a.efi', 'a.iso', 'not-a-dir'], 'no partial file left');

    // SIGTERM while it works (its scratch directory exists): exit 143, nothing replaced, nothing left.
    const scratch = join(dir, 'cli-tmp');
    await mkdir(scratch);
    const child = spawn(cli, args('changed=2'), { env: { ...env, TMPDIR: scratch }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const deadline = Date.now() + 120_000;
    const scratchDirs = async () => (await readdir(scratch)).filter((n) => n.startsWith('ramforge-iso-'));
    while ((await scratchDirs()).length === 0) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `ramforge iso made no scratch directory: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 143, stderr);
    assert.match(stderr, /ramforge: interrupted by SIGTERM: stopped; no output file was written or replaced/);
    assert.deepEqual(await scratchDirs(), [], 'the scratch directory is removed');
    assert.equal(await sha256(isoOut), isoSum);
    assert.equal(await sha256(ukiOut), ukiSum);
    assert.deepEqual(await listing(), ['a.efi', 'a.iso', 'not-a-dir']);
  });
});
