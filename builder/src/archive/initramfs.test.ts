import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BuildError, UserError } from '../errors.js';
import type { TreeEntry } from '../tree/types.js';
import { listInitramfs, readInitramfsFiles } from './initramfs-list.js';
import { cpioStream } from './cpio-writer.js';
import { compressStream } from './compress.js';
import { writeInitramfs } from './initramfs.js';

/** Everything this file creates on disk, removed at the end. */
const base = mkdtempSync(join(tmpdir(), 'rf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

const E = (e: Partial<TreeEntry> & Pick<TreeEntry, 'path' | 'type'>): TreeEntry => ({ mode: 0o644, uid: 0, gid: 0, mtime: 0, ...e });

const ucode = [
  E({ path: 'kernel', type: 'dir', mode: 0o755 }),
  E({ path: 'kernel/x86', type: 'dir', mode: 0o755 }),
  E({ path: 'kernel/x86/GenuineIntel.bin', type: 'file', data: Buffer.from('ucode!'), size: 6 }),
];
const root = [
  E({ path: 'bin', type: 'symlink', mode: 0o777, linkTarget: 'usr/bin' }),
  E({ path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\nexec sh\n'), size: 18 }),
  E({ path: 'usr', type: 'dir', mode: 0o755 }),
];

describe('writeInitramfs + listInitramfs', () => {
  it('writes 4-aligned members and lists them back', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    // An existing blob with an odd length: appended as is, then padded.
    const extra = join(dir, 'extra.cpio.gz');
    const chunks: Buffer[] = [];
    for await (const c of cpioStream([E({ path: 'etc', type: 'dir', mode: 0o755 })]).pipe(compressStream('gzip'))) chunks.push(c as Buffer);
    writeFileSync(extra, Buffer.concat(chunks));
    const out = join(dir, 'initrd.img');
    const res = await writeInitramfs(
      out,
      [
        { name: 'early', compression: 'none', entries: ucode },
        { name: 'main', compression: 'gzip', entries: root },
        { name: 'extra', file: extra },
        { name: 'tail', compression: 'none', entries: [E({ path: 'tail', type: 'file', data: Buffer.from('x'), size: 1 })] },
      ],
      { epoch: 0 },
    );
    assert.equal(existsSync(`${out}.partial`), false);
    assert.equal(res.size, readFileSync(out).length);
    for (const m of res.members) assert.equal(m.offset % 4, 0, `${m.name} is 4-aligned`);
    const list = await listInitramfs(out);
    assert.deepEqual(
      list.map((m) => [m.index, m.offset, m.compressedSize, m.compression]),
      res.members.map((m, i) => [i, m.offset, m.size, ['none', 'gzip', 'gzip', 'none'][i]]),
    );
    assert.deepEqual(
      list[0]?.entries.map((e) => e.path),
      ['kernel', 'kernel/x86', 'kernel/x86/GenuineIntel.bin'],
    );
    assert.deepEqual(list[1]?.entries, [
      { path: 'bin', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 7, linkTarget: 'usr/bin' },
      { path: 'init', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 18 },
      { path: 'usr', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
    ]);
    assert.deepEqual(
      list[2]?.entries.map((e) => e.path),
      ['etc'],
    );
    assert.deepEqual(
      list[3]?.entries.map((e) => e.path),
      ['tail'],
    );
  });

  it('an lz4 member ends in zeros, so the kernel stops there, and the next member is found after them', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    const out = join(dir, 'initrd.img');
    const big = Buffer.alloc(9 << 20); // more than one 8 MiB legacy chunk
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const res = await writeInitramfs(
      out,
      [
        { name: 'root', compression: 'lz4', entries: [...root, E({ path: 'big', type: 'file', data: big, size: big.length })] },
        { name: 'tail', compression: 'none', entries: [E({ path: 'tail', type: 'file', data: Buffer.from('x'), size: 1 })] },
      ],
      { epoch: 0 },
    );
    const bytes = readFileSync(out);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x02, 0x21, 0x4c, 0x18]);
    const tailAt = res.members[1]!.offset;
    assert.ok(
      bytes.subarray(tailAt - 16, tailAt).every((b) => b === 0),
      'zeros before the next member',
    );
    const list = await listInitramfs(out);
    assert.deepEqual(
      list.map((m) => [m.compression, m.offset, m.entries.map((e) => e.path)]),
      [
        ['lz4', 0, ['bin', 'init', 'usr', 'big']],
        ['none', tailAt, ['tail']],
      ],
    );
    assert.equal(list[0]!.entries[3]!.size, big.length);
    // The same bytes again: lz4's output depends only on its input.
    await writeInitramfs(
      join(dir, 'again'),
      [{ name: 'root', compression: 'lz4', entries: [...root, E({ path: 'big', type: 'file', data: big, size: big.length })] }],
      {
        epoch: 0,
      },
    );
    assert.deepEqual(readFileSync(join(dir, 'again')), bytes.subarray(0, res.members[0]!.size + ((4 - (res.members[0]!.size % 4)) % 4)));
  });

  it('reads the files asked for, from the members that hold them; a later member wins', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    const out = join(dir, 'initrd.img');
    const f = (path: string, text: string): TreeEntry => E({ path, type: 'file', data: Buffer.from(text), size: text.length });
    await writeInitramfs(
      out,
      [
        { name: 'early', compression: 'none', entries: ucode },
        {
          name: 'root',
          compression: 'zstd',
          entries: [...root, E({ path: 'etc', type: 'dir', mode: 0o755 }), f('etc/a', 'first'), f('etc/b', 'b')],
        },
        { name: 'site', compression: 'gzip', entries: [E({ path: 'etc', type: 'dir', mode: 0o755 }), f('etc/a', 'second')] },
      ],
      { epoch: 0 },
    );
    const { members, files } = await readInitramfsFiles(out, (p) => p.startsWith('etc/') || p === 'bin' || p === 'usr');
    assert.equal(members.length, 3);
    assert.deepEqual(
      [...files].map(([p, d]) => [p, d.toString()]).sort(),
      [
        ['etc/a', 'second'],
        ['etc/b', 'b'],
      ],
      'regular files only (not the bin symlink, not usr), the later etc/a',
    );
    assert.equal(
      (await readInitramfsFiles(out, (p) => p === 'kernel/x86/GenuineIntel.bin')).files.get('kernel/x86/GenuineIntel.bin')?.toString(),
      'ucode!',
    );
    assert.equal((await readInitramfsFiles(out, () => false)).files.size, 0);
  });

  it('writes a deterministic gzip header (no name, mtime 0)', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    await writeInitramfs(join(dir, 'a'), [{ name: 'm', compression: 'gzip', entries: root }]);
    const b = readFileSync(join(dir, 'a'));
    assert.deepEqual([...b.subarray(0, 8)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
  });

  it('leaves no partial file behind on failure', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    const out = join(dir, 'bad.img');
    await assert.rejects(
      writeInitramfs(out, [
        { name: 'm', compression: 'gzip', entries: [E({ path: 'x', type: 'file', source: join(dir, 'gone'), size: 5 })] },
      ]),
      BuildError,
    );
    assert.equal(existsSync(`${out}.partial`), false);
    assert.equal(existsSync(out), false);
    await assert.rejects(writeInitramfs(out, [{ name: 'blob', file: join(dir, 'nope') }]), UserError);
  });

  it('refuses data that is no initramfs', async () => {
    const dir = mkdtempSync(join(base, 'rf-initrd-'));
    writeFileSync(join(dir, 'junk'), 'hello world');
    await assert.rejects(listInitramfs(join(dir, 'junk')), /unrecognised data at offset 0/);
  });
});
