import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTool, run } from '../../exec/run.js';
import { makeNodeSquashfs, squashfsCompressorArgs } from './node-squashfs.js';

const skip = findTool('mksquashfs') && findTool('unsquashfs') ? false : 'needs squashfs-tools (ramforge doctor --fix)';

test('every spec compression maps to mksquashfs arguments', () => {
  assert.deepEqual(squashfsCompressorArgs('zstd'), ['-comp', 'zstd', '-Xcompression-level', '19']);
  assert.deepEqual(squashfsCompressorArgs('none'), ['-noI', '-noD', '-noF', '-noX']);
});

test('node squashfs: two builds in other directories, later, with another umask, give the same bytes; node inside, 0755, root', {
  skip,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-node-sqfs-'));
  try {
    // A stand-in binary: some data, then zeros (as the ICU trim leaves), made the same way every time.
    const bin = join(dir, 'node-bin');
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < 1 << 20; i++) data[i] = (i * 2654435761) >>> 24;
    writeFileSync(bin, data, { mode: 0o600 });
    const sha256 = createHash('sha256').update(data).digest('hex');
    const make = (n: string) =>
      makeNodeSquashfs({
        binary: bin,
        sha256,
        compression: 'zstd',
        epoch: 1_700_000_000,
        cacheDir: join(dir, `cache-${n}`),
        workspace: dir,
        log: () => {},
      });
    const a = await make('a');
    await sleep(1100);
    const old = process.umask(0o077);
    let b: Awaited<ReturnType<typeof make>>;
    try {
      b = await make('b');
    } finally {
      process.umask(old);
    }
    assert.notEqual(a.file, b.file);
    assert.ok(readFileSync(a.file).equals(readFileSync(b.file)), 'the two images differ');
    assert.equal(a.bytes, statSync(a.file).size);
    assert.ok(a.bytes < data.length / 2, `the zeros are not stored (${a.bytes} bytes)`);
    // A second call with the same inputs is the cached image.
    assert.equal((await make('a')).file, a.file);

    const listing = (await run(['unsquashfs', '-lln', a.file])).stdout;
    assert.match(listing, /^-rwxr-xr-x 0\/0 +3145728 \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root\/node$/m);
    assert.match(listing, /^drwxr-xr-x 0\/0 .* squashfs-root$/m);
    const out = join(dir, 'unpacked');
    await run(['unsquashfs', '-no-xattrs', '-d', out, a.file]);
    assert.ok(readFileSync(join(out, 'node')).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
