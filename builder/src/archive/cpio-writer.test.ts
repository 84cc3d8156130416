import assert from 'node:assert/strict';
import { buffer as bytesOf } from 'node:stream/consumers';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TreeEntry } from '../tree/types.js';
import { readCpio, type CpioEntry } from './cpio-reader.js';
import { cpioStream } from './cpio-writer.js';

/** Everything this file creates on disk, removed at the end. */
const base = mkdtempSync(join(tmpdir(), 'rf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

async function entriesOf(b: Buffer): Promise<CpioEntry[]> {
  const out: CpioEntry[] = [];
  for await (const e of readCpio(b)) out.push(e);
  return out;
}

/** An independent, naive newc encoder: the golden reference. */
function naiveRecord(name: string, f: number[], data = ''): string {
  const hex = (v: number): string => v.toString(16).toUpperCase().padStart(8, '0');
  const nameSize = Buffer.byteLength(name) + 1;
  const head = `070701${f.map(hex).join('')}${hex(nameSize)}${hex(0)}${name}\0`;
  const pad = (n: number): string => '\0'.repeat((4 - (n % 4)) % 4);
  return head + pad(head.length) + data + pad(data.length);
}

const E = (e: Partial<TreeEntry> & Pick<TreeEntry, 'path' | 'type'>): TreeEntry => ({ mode: 0o644, uid: 0, gid: 0, mtime: 0, ...e });

describe('cpioStream', () => {
  it('matches golden bytes for a tiny tree', async () => {
    const entries = [
      E({ path: 'dev', type: 'dir', mode: 0o755, mtime: 5 }),
      E({ path: 'dev/console', type: 'char', mode: 0o600, rdevMajor: 5, rdevMinor: 1, mtime: 99999 }),
      E({ path: 'init', type: 'file', mode: 0o755, uid: 1, gid: 2, data: Buffer.from('hi\n'), size: 3, mtime: 2000 }),
      E({ path: 'sh', type: 'symlink', mode: 0o777, linkTarget: 'init' }),
    ];
    const got = await bytesOf(cpioStream(entries, { epoch: 1000 }));
    // fields: ino mode uid gid nlink mtime size devmaj devmin rdevmaj rdevmin
    const want =
      naiveRecord('dev', [1, 0o40755, 0, 0, 2, 5, 0, 0, 0, 0, 0]) +
      naiveRecord('dev/console', [2, 0o20600, 0, 0, 1, 1000, 0, 0, 0, 5, 1]) +
      naiveRecord('init', [3, 0o100755, 1, 2, 1, 1000, 3, 0, 0, 0, 0], 'hi\n') +
      naiveRecord('sh', [4, 0o120777, 0, 0, 1, 0, 4, 0, 0, 0, 0], 'init') +
      naiveRecord('TRAILER!!!', [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(got.toString('latin1'), want);
    assert.equal(got.length % 4, 0);
  });

  it('reads the crc variant (070702) and concatenated archives with NUL padding', async () => {
    const one =
      naiveRecord('a', [7, 0o100600, 0, 0, 1, 0, 2, 0, 0, 0, 0], 'hi').replace('070701', '070702') +
      naiveRecord('TRAILER!!!', [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const two = naiveRecord('b', [1, 0o40755, 0, 0, 2, 0, 0, 0, 0, 0, 0]) + naiveRecord('TRAILER!!!', [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const back = await entriesOf(Buffer.from(`${one}\0\0\0\0${two}`, 'latin1'));
    assert.deepEqual(
      back.map((e) => [e.name, e.ino, e.data?.toString()]),
      [
        ['a', 7, 'hi'],
        ['b', 1, ''],
      ],
    );
  });

  it('omits the trailer on request', async () => {
    const got = await bytesOf(cpioStream([E({ path: 'a', type: 'dir' })], { trailer: false }));
    assert.equal(got.toString('latin1'), naiveRecord('a', [1, 0o40644, 0, 0, 2, 0, 0, 0, 0, 0, 0]));
  });

  it('keeps every record 4-aligned for all name and data lengths', async () => {
    const entries: TreeEntry[] = [];
    for (let n = 1; n <= 9; n++)
      for (let s = 0; s <= 5; s++)
        entries.push(E({ path: `${'n'.repeat(n)}${s}`, type: 'file', data: Buffer.alloc(s, 0x41 + s), size: s }));
    const b = await bytesOf(cpioStream(entries));
    const back = await entriesOf(b);
    assert.equal(back.length, entries.length);
    back.forEach((e, i) => assert.deepEqual(e.data, entries[i]?.data));
    // Every header starts on a multiple of 4.
    let at = 0;
    for (let i = 0; i <= entries.length; i++) {
      assert.equal(at % 4, 0);
      assert.equal(b.toString('latin1', at, at + 6), '070701');
      const nameSize = parseInt(b.toString('latin1', at + 94, at + 102), 16);
      const size = parseInt(b.toString('latin1', at + 54, at + 62), 16);
      at += 110 + nameSize;
      at += (4 - (at % 4)) % 4;
      at += size + ((4 - (size % 4)) % 4);
    }
    assert.equal(at, b.length);
  });

  it('writes hard links like GNU cpio: one ino, nlink = group size, data on the last member', async () => {
    const entries = [
      E({ path: 'a', type: 'hardlink', linkTarget: 'c' }),
      E({ path: 'b', type: 'file', data: Buffer.from('solo'), size: 4 }),
      E({ path: 'c', type: 'file', mode: 0o755, data: Buffer.from('shared'), size: 6 }),
      E({ path: 'd', type: 'hardlink', linkTarget: 'c' }),
    ];
    const back = await entriesOf(await bytesOf(cpioStream(entries)));
    assert.deepEqual(
      back.map((e) => [e.name, e.ino, e.nlink, e.size, e.mode.toString(8)]),
      [
        ['a', 1, 3, 0, '100755'],
        ['b', 2, 1, 4, '100644'],
        ['c', 1, 3, 0, '100755'],
        ['d', 1, 3, 6, '100755'],
      ],
    );
    assert.equal(back[3]?.data?.toString(), 'shared');
  });

  it('round-trips host files, including ones streamed in several reads', async () => {
    const dir = mkdtempSync(join(base, 'rf-cpio-'));
    const big = Buffer.alloc(3 * (1 << 20) + 3);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    writeFileSync(join(dir, 'big'), big);
    const entries: TreeEntry[] = [E({ path: 'big', type: 'file', source: join(dir, 'big'), size: big.length })];
    for (let i = 0; i < 200; i++) {
      const p = join(dir, `f${i}`);
      writeFileSync(p, `file ${i}\n`.repeat(i));
      entries.push(E({ path: `f${String(i).padStart(3, '0')}`, type: 'file', source: p, size: `file ${i}\n`.length * i, mtime: i }));
    }
    const back = await entriesOf(await bytesOf(cpioStream(entries)));
    assert.deepEqual(back[0]?.data, big);
    for (let i = 0; i < 200; i++) {
      assert.equal(back[i + 1]?.data?.toString(), `file ${i}\n`.repeat(i));
      assert.equal(back[i + 1]?.mtime, i);
      assert.equal(back[i + 1]?.ino, i + 2);
    }
  });

  it('fails clearly when a source changed size', async () => {
    const dir = mkdtempSync(join(base, 'rf-cpio-'));
    writeFileSync(join(dir, 'x'), 'longer than announced');
    await assert.rejects(bytesOf(cpioStream([E({ path: 'x', type: 'file', source: join(dir, 'x'), size: 3 })])), /changed while packing/);
    await assert.rejects(
      bytesOf(cpioStream([E({ path: 'y', type: 'file', source: join(dir, 'missing'), size: 3 })])),
      /cannot read the content of 'y'/,
    );
  });
});
