import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buffer as bytesOf } from 'node:stream/consumers';
import type { TreeEntry } from '../../tree/types.js';
import { cpioStream } from '../../archive/cpio-writer.js';
import { readCpio, type CpioEntry } from '../../archive/cpio-reader.js';
import { listInitramfs } from '../../archive/initramfs-list.js';
import { UserError } from '../../errors.js';
import { repackInitramfs } from './repack.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-repack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const E = (e: Partial<TreeEntry> & Pick<TreeEntry, 'path' | 'type'>): TreeEntry => ({ mode: 0o644, uid: 0, gid: 0, mtime: 7, ...e });
const file = (path: string, text: string, extra: Partial<TreeEntry> = {}): TreeEntry =>
  E({ path, type: 'file', data: Buffer.from(text), size: Buffer.byteLength(text), ...extra });
const cpio = async (entries: TreeEntry[]): Promise<Buffer> => bytesOf(cpioStream(entries));
const pad4 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);

async function entriesOf(b: Buffer): Promise<CpioEntry[]> {
  const out: CpioEntry[] = [];
  for await (const e of readCpio(b)) out.push(e);
  return out;
}

const OEM = [
  E({ path: 'usr', type: 'dir', mode: 0o755 }),
  E({ path: 'usr/share', type: 'dir', mode: 0o755 }),
  E({ path: 'usr/share/oem', type: 'dir', mode: 0o755 }),
  file('usr/share/oem/cloud-config.yml', '#cloud-config\n'),
  // The base has an older one: the OEM's must win (it comes later in the archive).
  file('usr/share/oem/authorized_keys', 'ssh-ed25519 AAAA new\n'),
];

test('microcode kept in front, every other member and the OEM files in ONE gzip archive the kernel reads', async () => {
  const microcode = await cpio([
    E({ path: 'kernel', type: 'dir', mode: 0o755 }),
    E({ path: 'kernel/x86', type: 'dir', mode: 0o755 }),
    E({ path: 'kernel/x86/microcode', type: 'dir', mode: 0o755 }),
    file('kernel/x86/microcode/GenuineIntel.bin', 'ucode'),
  ]);
  const main = await cpio([
    E({ path: 'bin', type: 'dir', mode: 0o755 }),
    file('bin/tool', 'the tool\n', { mode: 0o755, uid: 500, gid: 500 }),
    E({ path: 'bin/tool-link', type: 'hardlink', linkTarget: 'bin/tool' }),
    E({ path: 'bin/sh', type: 'symlink', mode: 0o777, linkTarget: 'tool' }),
    E({ path: 'dev', type: 'dir', mode: 0o755 }),
    E({ path: 'dev/console', type: 'char', mode: 0o600, rdevMajor: 5, rdevMinor: 1 }),
    E({ path: 'usr', type: 'dir', mode: 0o755 }),
    E({ path: 'usr/share', type: 'dir', mode: 0o755 }),
    E({ path: 'usr/share/oem', type: 'dir', mode: 0o755 }),
    file('usr/share/oem/authorized_keys', 'ssh-ed25519 AAAA old\n'),
  ]);
  // A second compressed member whose inode numbers collide with the first's (both start at 1), with its own hard links.
  const second = await cpio([
    E({ path: 'etc', type: 'dir', mode: 0o755 }),
    file('etc/a', 'shared\n'),
    E({ path: 'etc/b', type: 'hardlink', linkTarget: 'etc/a' }),
  ]);
  const base = join(dir, 'base.img');
  writeFileSync(base, Buffer.concat([pad4(microcode), gzipSync(main), gzipSync(second)]));
  const out = join(dir, 'out.img');

  const r = await repackInitramfs({ base, oem: OEM, out, epoch: 1000 });
  assert.deepEqual(r, { compression: 'gzip', keptPlain: 1, merged: 2, baseEntries: 13 });

  const members = await listInitramfs(out);
  assert.deepEqual(
    members.map((m) => m.compression),
    ['none', 'gzip'],
  );
  const bytes = readFileSync(out);
  assert.deepEqual(bytes.subarray(0, microcode.length), microcode, 'the early microcode member byte for byte');
  const merged = gunzipSync(bytes.subarray(members[1]!.offset));
  // One archive: a single trailer at the very end.
  assert.equal(merged.toString('latin1').split('TRAILER!!!').length - 1, 1);
  const entries = await entriesOf(merged);
  const byName = new Map<string, CpioEntry[]>();
  for (const e of entries) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  assert.equal(entries.length, 13 + OEM.length);
  const tool = byName.get('bin/tool')![0]!;
  const link = byName.get('bin/tool-link')![0]!;
  assert.equal(tool.ino, link.ino, 'a hard-link group keeps one inode');
  assert.equal(tool.nlink, 2);
  assert.equal(tool.uid, 500);
  assert.equal(byName.get('bin/sh')![0]!.data?.toString(), 'tool');
  assert.deepEqual(byName.get('dev/console')![0]!.rdev, { major: 5, minor: 1 });
  const a = byName.get('etc/a')![0]!;
  assert.equal(a.ino, byName.get('etc/b')![0]!.ino);
  assert.notEqual(a.ino, tool.ino, "the second member's links do not join the first's group");
  // The hard link group's content travels on its last entry, as newc wants.
  assert.equal([a, byName.get('etc/b')![0]!].map((e) => e.data?.toString() ?? '').join(''), 'shared\n');
  // Later wins in the kernel's unpacker: the OEM's authorized_keys comes after the base's.
  const keys = byName.get('usr/share/oem/authorized_keys')!;
  assert.deepEqual(
    keys.map((k) => k.data?.toString()),
    ['ssh-ed25519 AAAA old\n', 'ssh-ed25519 AAAA new\n'],
  );
  // Every inode number is unique across groups (OEM from 1, the base's moved above them).
  const groups = new Map<number, Set<string>>();
  for (const e of entries)
    groups.set(e.ino, (groups.get(e.ino) ?? new Set()).add(e.name.replace(/-link$/, '').replace(/etc\/b$/, 'etc/a')));
  for (const [ino, names] of groups) assert.equal(names.size, 1, `inode ${ino}: ${[...names].join(', ')}`);
});

test('a plain cpio base stays plain: one archive, no compression', async () => {
  const base = join(dir, 'plain.img');
  writeFileSync(base, await cpio([file('init', '#!/bin/sh\n', { mode: 0o755 })]));
  const out = join(dir, 'plain-out.img');
  const r = await repackInitramfs({ base, oem: OEM, out, epoch: 1000 });
  assert.equal(r.compression, 'none');
  const entries = await entriesOf(readFileSync(out));
  assert.deepEqual(
    entries.map((e) => e.name),
    ['init', ...OEM.map((e) => e.path)],
  );
  assert.equal(readFileSync(out).toString('latin1').split('TRAILER!!!').length - 1, 1);
});

test('an lzma base is refused with the fix: ramforge reads lzma but does not write it', async () => {
  const plain = join(dir, 'l.cpio');
  writeFileSync(plain, await cpio([file('init', 'x')]));
  execFileSync('xz', ['--format=lzma', '--keep', plain]);
  await assert.rejects(
    repackInitramfs({ base: `${plain}.lzma`, oem: OEM, out: join(dir, 'l-out.img'), epoch: 1000 }),
    (e: unknown) => e instanceof UserError && /lzma-compressed/.test(e.message) && /oem: append/.test(String(e.hint)),
  );
});
