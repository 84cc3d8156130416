import assert from 'node:assert/strict';
import { buffer as bytesOf } from 'node:stream/consumers';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Tree } from '../tree/tree.js';
import { tarStream } from './tar-writer.js';

/** Everything this file creates on disk, removed at the end. */
const base = mkdtempSync(join(tmpdir(), 'rf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

describe('tarStream', () => {
  it('round-trips through Tree.mergeTar, links before their file included', async () => {
    const store = mkdtempSync(join(base, 'rf-tar-'));
    const t = new Tree({ storeDir: store });
    t.addFile('usr/bin/zz', Buffer.from('payload'), { mode: 0o755, mtime: 2_000_000_000 });
    t.addHardlink('usr/bin/aa', 'usr/bin/zz');
    t.addDevice('dev/null', 'char', 1, 3, { mode: 0o666 });
    t.addFifo('run/f');
    t.addSymlink('init', '/usr/bin/zz');
    t.addFile('big', Buffer.alloc(200_000, 1));
    const tar = await bytesOf(tarStream(t.entries(), { epoch: 1_000_000_000 }));
    assert.equal(tar.includes(Buffer.from('atime')), false);
    const back = new Tree({ storeDir: store });
    await back.mergeTar(Readable.from([tar]), { layer: 'rt' });
    // aa sorts first, so aa carries the content and zz links to it.
    assert.equal(back.get('usr/bin/aa')?.type, 'file');
    assert.equal(back.get('usr/bin/aa')?.data?.toString(), 'payload');
    assert.equal(back.get('usr/bin/aa')?.mtime, 1_000_000_000);
    assert.equal(back.get('usr/bin/zz')?.linkTarget, 'usr/bin/aa');
    assert.equal(back.get('dev/null')?.rdevMinor, 3);
    assert.equal(back.get('run/f')?.type, 'fifo');
    assert.equal(back.get('init')?.linkTarget, '/usr/bin/zz');
    assert.equal(back.get('big')?.size, 200_000);
    const again = await bytesOf(tarStream(t.entries(), { epoch: 1_000_000_000 }));
    assert.deepEqual(again, tar);
  });
});
