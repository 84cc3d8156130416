/**
 * The kernel is the reader that matters: boot a Debian kernel under qemu
 * (-accel tcg) with a four-member initramfs (uncompressed + xz + zstd +
 * gzip) and check that /init sees files from every member.
 * Needs qemu-system-x86, dpkg, and cached linux-image-*-amd64 and busybox
 * .debs in /var/cache/apt/archives; skipped when any is missing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { writeInitramfs } from '../../builder/src/archive/initramfs.js';
import { findTool } from '../../builder/src/exec/run.js';
import { Tree } from '../../builder/src/tree/tree.js';
import type { TreeEntry } from '../../builder/src/tree/types.js';

const base = mkdtempSync(join(tmpdir(), 'rf-boot-'));
after(() => rmSync(base, { recursive: true, force: true }));

const ARCHIVES = '/var/cache/apt/archives';
const debs = existsSync(ARCHIVES) ? readdirSync(ARCHIVES) : [];
const kernelDeb = debs.find((f) => /^linux-image-\d.*-amd64_.*\.deb$/.test(f));
const busyboxDeb = debs.find((f) => /^busybox_.*\.deb$/.test(f));
const qemu = findTool('qemu-system-x86_64');
const LIBS = ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libresolv.so.2', '/lib64/ld-linux-x86-64.so.2'];
const skip =
  !kernelDeb || !busyboxDeb || !qemu || !LIBS.every((l) => existsSync(l))
    ? 'needs qemu, cached kernel and busybox .debs, host glibc'
    : false;

const file = (path: string, text: string, mode = 0o644): TreeEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  data: Buffer.from(text),
  size: Buffer.byteLength(text),
});

it('boots with an uncompressed + xz + zstd + gzip initramfs', { skip, timeout: 300_000 }, async () => {
  const kdir = join(base, 'kernel');
  execFileSync('dpkg-deb', ['-x', join(ARCHIVES, kernelDeb as string), kdir]);
  const vmlinuz = join(kdir, 'boot', readdirSync(join(kdir, 'boot')).find((f) => f.startsWith('vmlinuz-')) as string);

  const tree = new Tree({ storeDir: join(base, 'store') });
  const bb = spawn('dpkg-deb', ['--fsys-tarfile', join(ARCHIVES, busyboxDeb as string)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await tree.mergeTar(bb.stdout, { layer: 'busybox' });
  for (const l of LIBS) tree.addFile(l, { source: realpathSync(l) }, { mode: 0o755, layer: 'host-libc' });
  tree.addDevice('dev/console', 'char', 5, 1, { mode: 0o600 });
  tree.addDir('proc');
  tree.addFile(
    'init',
    Buffer.from(
      [
        '#!/bin/busybox sh',
        'B=/bin/busybox',
        'echo "RAMFORGE $($B cat /early) $($B cat /etc/main) $($B cat /zst) $($B cat /gz) $($B readlink /bin)"',
        '$B poweroff -f',
        '',
      ].join('\n'),
    ),
    { mode: 0o755 },
  );
  tree.addFile('etc/main', Buffer.from('xz-ok'));
  const img = join(base, 'initrd.img');
  await writeInitramfs(
    img,
    [
      { name: 'early', compression: 'none', entries: [file('early', 'none-ok')] },
      { name: 'main', compression: 'xz', entries: tree.entries(), level: 1 },
      { name: 'zstd', compression: 'zstd', entries: [file('zst', 'zstd-ok')], level: 3 },
      { name: 'gzip', compression: 'gzip', entries: [file('gz', 'gzip-ok')] },
    ],
    { epoch: 0 },
  );

  const out = await new Promise<string>((resolve, reject) => {
    const q = spawn(
      qemu as string,
      [
        '-accel',
        'tcg',
        '-m',
        '512',
        '-kernel',
        vmlinuz,
        '-initrd',
        img,
        '-append',
        'console=ttyS0 panic=-1 quiet',
        '-display',
        'none',
        '-serial',
        'stdio',
        '-monitor',
        'none',
        '-nic',
        'none',
        '-no-reboot',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    q.stdout.on('data', (d: Buffer) => {
      log += d.toString();
    });
    q.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const timer = setTimeout(() => q.kill('SIGKILL'), 240_000);
    q.on('error', reject);
    q.on('close', () => {
      clearTimeout(timer);
      resolve(log);
    });
  });
  if (process.env.RAMFORGE_TEST_DEBUG) process.stderr.write(out);
  assert.match(out, /RAMFORGE none-ok xz-ok zstd-ok gzip-ok usr\/bin/, out.slice(-3000));
});
