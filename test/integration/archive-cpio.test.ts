/**
 * Our cpio/initramfs output against the real tools: GNU cpio (-t, -idm),
 * xz (-t, -lvv) and zstd; and build-twice reproducibility.
 * Needs: cpio, xz-utils, zstd. Runs as root for device nodes (skips them otherwise).
 */
import assert from 'node:assert/strict';
import { buffer as bytesOf } from 'node:stream/consumers';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { listInitramfs } from '../../builder/src/archive/initramfs-list.js';
import { cpioStream } from '../../builder/src/archive/cpio-writer.js';
import { compressStream } from '../../builder/src/archive/compress.js';
import { writeInitramfs } from '../../builder/src/archive/initramfs.js';
import { Tree } from '../../builder/src/tree/tree.js';

/** Everything this file creates on disk, removed at the end. */
const base = mkdtempSync(join(tmpdir(), 'rf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;

function makeHostDir(): string {
  const d = mkdtempSync(join(base, 'rf-int-host-'));
  mkdirSync(join(d, 'etc'));
  writeFileSync(join(d, 'etc', 'hostname'), 'ramforge\n');
  mkdirSync(join(d, 'bin'));
  writeFileSync(join(d, 'bin', 'tool'), Buffer.alloc(300_000, 0x5a), { mode: 0o755 });
  symlinkSync('tool', join(d, 'bin', 'tool-alias'));
  mkdirSync(join(d, 'usr', 'share', 'doc', 'x'), { recursive: true });
  writeFileSync(join(d, 'usr', 'share', 'doc', 'x', 'README'), 'docs');
  return d;
}

async function populate(t: Tree, host: string): Promise<void> {
  await t.mergeDirectory(host, { layer: 'host' });
  t.addHardlink('usr/sbin/tool-hl', 'usr/bin/tool');
  t.addDevice('dev/console', 'char', 5, 1, { mode: 0o600 });
  t.addDevice('dev/loop0', 'block', 7, 0, { mode: 0o660 });
  t.addFifo('run/initctl', { mode: 0o600 });
  t.addFile('init', Buffer.from('#!/bin/sh\nexec /bin/tool\n'), { mode: 0o755, mtime: 1_600_000_000 });
  t.prune(['usr/share/doc/**']);
}

describe('archives with real tools', () => {
  it('GNU cpio lists and extracts our newc archive', async () => {
    const host = makeHostDir();
    const t = new Tree({ storeDir: mkdtempSync(join(base, 'rf-int-store-')) });
    await populate(t, host);
    const archive = join(mkdtempSync(join(base, 'rf-int-out-')), 'root.cpio');
    writeFileSync(archive, await bytesOf(cpioStream(t.entries(), { epoch: 1_700_000_000 })));
    const listed = execFileSync('cpio', ['-t', '--quiet', '-F', archive], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(
      listed,
      t.entries().map((e) => e.path),
    );
    const dest = mkdtempSync(join(base, 'rf-int-x-'));
    const args = ['-idm', '--quiet', '--no-absolute-filenames', '-F', archive];
    if (!isRoot) args.push('--no-preserve-owner');
    execFileSync('cpio', args, { cwd: dest, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(readFileSync(join(dest, 'etc/hostname'), 'utf8'), 'ramforge\n');
    assert.equal(readlinkSync(join(dest, 'bin')), 'usr/bin');
    assert.equal(readlinkSync(join(dest, 'usr/bin/tool-alias')), 'tool');
    const a = lstatSync(join(dest, 'usr/bin/tool'));
    const b = lstatSync(join(dest, 'usr/sbin/tool-hl'));
    assert.equal(a.ino, b.ino, 'hard link restored');
    assert.equal(a.nlink, 2);
    assert.equal(a.size, 300_000);
    assert.equal(a.mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(dest, 'init')).mtimeMs, 1_600_000_000_000);
    assert.equal(lstatSync(join(dest, 'etc/hostname')).mtimeMs, 1_700_000_000_000, 'clamped to the epoch');
    assert.ok(lstatSync(join(dest, 'run/initctl')).isFIFO());
    if (isRoot) {
      const c = lstatSync(join(dest, 'dev/console'));
      assert.ok(c.isCharacterDevice());
      assert.equal(c.rdev, (5 << 8) | 1);
      assert.ok(lstatSync(join(dest, 'dev/loop0')).isBlockDevice());
    }
    assert.equal(lstatSync(join(dest, 'usr/share/doc')).isDirectory(), true);
  });

  it('xz members decode with xz -t and carry CRC32; zstd and multi-member layouts list back', async () => {
    const host = makeHostDir();
    const t = new Tree({ storeDir: mkdtempSync(join(base, 'rf-int-store-')) });
    await populate(t, host);
    const out = mkdtempSync(join(base, 'rf-int-out-'));
    const xzOnly = join(out, 'xz.img');
    await writeInitramfs(xzOnly, [{ name: 'root', compression: 'xz', entries: t.entries(), level: 6 }], { epoch: 0 });
    execFileSync('xz', ['-t', xzOnly]);
    const info = execFileSync('xz', ['-lvv', xzOnly], { encoding: 'utf8' });
    assert.match(info, /Check:\s+CRC32/);
    assert.doesNotMatch(info, /CRC64|SHA-256/);
    const multi = join(out, 'multi.img');
    const early = [{ path: 'kernel', type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 }];
    const res = await writeInitramfs(multi, [
      { name: 'early', compression: 'none', entries: early },
      { name: 'xz', compression: 'xz', entries: t.entries(), level: 1 },
      { name: 'zstd', compression: 'zstd', entries: t.entries(), level: 3 },
      { name: 'gzip', compression: 'gzip', entries: t.entries(), level: 1 },
      { name: 'late', compression: 'none', entries: early },
    ]);
    const list = await listInitramfs(multi);
    assert.deepEqual(
      list.map((m) => [m.offset, m.compressedSize, m.compression]),
      res.members.map((m, i) => [m.offset, m.size, ['none', 'xz', 'zstd', 'gzip', 'none'][i]]),
    );
    for (const i of [1, 2, 3])
      assert.deepEqual(
        list[i]?.entries.map((e) => e.path),
        t.entries().map((e) => e.path),
      );
    // What the kernel would do with the zstd member, checked by the zstd CLI itself.
    const z = res.members[2] as { offset: number; size: number };
    const zbytes = readFileSync(multi).subarray(z.offset, z.offset + z.size);
    execFileSync('zstd', ['-t', '-q'], { input: zbytes });
  });

  it('lists legacy lzma and bzip2 last members after an uncompressed one', async () => {
    const out = mkdtempSync(join(base, 'rf-int-out-'));
    const early = [{ path: 'kernel', type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 }];
    const body = await bytesOf(
      cpioStream([
        { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { path: 'etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, data: Buffer.from('hi'), size: 2 },
      ]),
    );
    for (const [kind, argv] of [
      ['lzma', ['xz', '--format=lzma', '-c']],
      ['bzip2', ['bzip2', '-c']],
    ] as const) {
      const blob = join(out, `${kind}.bin`);
      writeFileSync(blob, execFileSync(argv[0], argv.slice(1), { input: body }));
      const img = join(out, `${kind}.img`);
      await writeInitramfs(img, [
        { name: 'early', compression: 'none', entries: early },
        { name: kind, file: blob },
      ]);
      const list = await listInitramfs(img);
      assert.deepEqual(
        list.map((m) => [m.compression, m.entries.map((e) => e.path)]),
        [
          ['none', ['kernel']],
          [kind, ['etc', 'etc/motd']],
        ],
      );
    }
  });

  it('xz and zstd output does not depend on the thread count', async () => {
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 27;
    for (const kind of ['xz', 'zstd'] as const) {
      const one = await bytesOf(Readable.from([data]).pipe(compressStream(kind, { level: 3, threads: 1 })));
      const two = await bytesOf(Readable.from([data]).pipe(compressStream(kind, { level: 3, threads: 2 })));
      assert.deepEqual(one, two, `${kind} -T1 vs -T2`);
    }
  });

  it('two builds from the same inputs, at different times in different dirs, are byte-identical', async () => {
    const sha = async (hostSrc: string): Promise<string> => {
      const host = mkdtempSync(join(base, 'rf-int-repro-'));
      cpSync(hostSrc, host, { recursive: true, verbatimSymlinks: true }); // fresh mtimes and inodes
      const t = new Tree({ storeDir: mkdtempSync(join(base, 'rf-int-store-')) });
      await populate(t, host);
      const out = join(mkdtempSync(join(base, 'rf-int-out-')), 'initrd');
      await writeInitramfs(
        out,
        [
          { name: 'root', compression: 'gzip', entries: t.entries() },
          { name: 'xz', compression: 'xz', entries: t.entries(), level: 0 },
        ],
        { epoch: 1_500_000_000 },
      );
      return createHash('sha256').update(readFileSync(out)).digest('hex');
    };
    const src = makeHostDir();
    const first = await sha(src);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await sha(src);
    assert.equal(first, second);
  });
});
