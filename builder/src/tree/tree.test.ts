import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pack, type Header } from 'tar-stream';
import { UserError } from '../errors.js';
import { Tree } from './tree.js';

/** Everything this file creates on disk, removed at the end. */
const base = mkdtempSync(join(tmpdir(), 'rf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

type Member = Partial<Header> & { name: string; body?: string | Buffer };

/** A tar stream built in memory from header-like objects, in the given order. */
async function tarOf(members: Member[]): Promise<Readable> {
  const p = pack();
  const chunks: Buffer[] = [];
  // Drain while adding: pack applies backpressure to large entries.
  const drained = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const { body, ...h } of members) {
    await new Promise<void>((res, rej) => p.entry(h, body ?? '', (e) => (e ? rej(e) : res())));
  }
  p.finalize();
  await drained;
  return Readable.from([Buffer.concat(chunks)]);
}

function newTree(usrMerge = true): Tree {
  return new Tree({ storeDir: mkdtempSync(join(base, 'rf-tree-')), usrMerge });
}

const rejects =
  (layer: string, entry: string) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof UserError, `expected UserError, got ${String(e)}`);
    assert.match(e.message, new RegExp(`layer '${layer}'`));
    assert.ok(e.message.includes(entry), `message names the entry: ${e.message}`);
    return true;
  };

describe('Tree paths', () => {
  it("normalises 'x', '/x', './x' to the same entry", () => {
    const t = newTree(false);
    t.addFile('x', Buffer.from('1'));
    assert.ok(t.has('/x') && t.has('./x') && t.has('x'));
    t.addFile('/a//b/./c', Buffer.from('2'));
    assert.equal(t.get('a/b/c')?.data?.toString(), '2');
    assert.equal(t.get('a/b')?.type, 'dir');
    assert.equal(t.get('a/b')?.mode, 0o755);
  });

  it('sorts by components: parents first, a/b before a-b', () => {
    const t = newTree(false);
    for (const p of ['a-b', 'a/b', 'a/b/c', 'a.c', 'B', 'a']) t.addFile(p === 'a' || p === 'a/b' ? `${p}/.keep` : p, Buffer.alloc(0));
    const order = t.entries().map((e) => e.path);
    assert.deepEqual(order, ['B', 'a', 'a/.keep', 'a/b', 'a/b/.keep', 'a/b/c', 'a-b', 'a.c']);
  });

  it('refuses ../ components everywhere', async () => {
    const t = newTree();
    assert.throws(() => t.addFile('../x', Buffer.alloc(0), { layer: 'api-test' }), rejects('api-test', '../x'));
    assert.throws(() => t.addFile('a/../../x', Buffer.alloc(0)), UserError);
    await assert.rejects(t.mergeTar(await tarOf([{ name: '../x', body: 'evil' }]), { layer: 'evil' }), rejects('evil', '../x'));
    await assert.rejects(
      t.mergeTar(
        await tarOf([
          { name: 'ok', type: 'file' },
          { name: 'y', type: 'link', linkname: '../etc/shadow' },
        ]),
        { layer: 'evil2' },
      ),
      rejects('evil2', '../etc/shadow'),
    );
  });

  it('refuses absolute tar members but accepts /x from the API', async () => {
    const t = newTree();
    await assert.rejects(t.mergeTar(await tarOf([{ name: '/etc/x', body: 'evil' }]), { layer: 'abs' }), rejects('abs', '/etc/x'));
    assert.equal(t.has('etc/x'), false);
    t.addFile('/etc/x', Buffer.from('ok'));
    assert.equal(t.get('etc/x')?.path, 'etc/x');
  });
});

describe('Tree escape rules', () => {
  it('refuses a child under a symlink (symlink first)', async () => {
    const t = newTree();
    const tar = await tarOf([
      { name: 'x', type: 'symlink', linkname: '/etc' },
      { name: 'x/passwd', body: 'root::0:0' },
    ]);
    await assert.rejects(t.mergeTar(tar, { layer: 'l1' }), rejects('l1', 'x/passwd'));
    assert.equal(t.has('etc/passwd'), false);
  });

  it('refuses a symlink over a populated directory (child first)', async () => {
    const t = newTree();
    const tar = await tarOf([
      { name: 'x/passwd', body: 'root::0:0' },
      { name: 'x', type: 'symlink', linkname: '/etc' },
    ]);
    await assert.rejects(t.mergeTar(tar, { layer: 'l2' }), rejects('l2', 'x'));
    assert.equal(t.get('x')?.type, 'dir');
  });

  it("refuses 'x' → '/' then 'x/y', also across layers and through the API", async () => {
    const t = newTree();
    await t.mergeTar(await tarOf([{ name: 'x', type: 'symlink', linkname: '/' }]), { layer: 'a' });
    await assert.rejects(t.mergeTar(await tarOf([{ name: 'x/y', body: '1' }]), { layer: 'b' }), rejects('b', 'x/y'));
    assert.throws(() => t.addDir('x/etc'), UserError);
    await assert.rejects(t.mergeTar(await tarOf([{ name: 'z', body: 'x' }]), { layer: 'c', into: 'x/sub' }), UserError);
  });

  it('turns a hard link to a symlink into a symlink and refuses links to nothing', async () => {
    const t = newTree();
    await t.mergeTar(
      await tarOf([
        { name: 's', type: 'symlink', linkname: '/etc' },
        { name: 'h', type: 'link', linkname: 's' },
      ]),
      { layer: 'hl' },
    );
    assert.deepEqual([t.get('h')?.type, t.get('h')?.linkTarget], ['symlink', '/etc']);
    await assert.rejects(
      t.mergeTar(await tarOf([{ name: 'h2', type: 'link', linkname: 'missing' }]), { layer: 'hl2' }),
      rejects('hl2', 'h2'),
    );
    assert.throws(() => t.addSymlink('../up', 'x', { layer: 'sl' }), rejects('sl', '../up'));
  });

  it('refuses a child under a regular file', () => {
    const t = newTree();
    t.addFile('f', Buffer.from('1'));
    assert.throws(() => t.addFile('f/g', Buffer.from('2')), /not a directory/);
  });

  it('replaces an empty dir by a file but not a populated one', () => {
    const t = newTree();
    t.addDir('d');
    t.addFile('d', Buffer.from('now a file'));
    assert.equal(t.get('d')?.type, 'file');
    t.addFile('e/child', Buffer.alloc(0));
    assert.throws(() => t.addFile('e', Buffer.alloc(0)), /non-empty directory/);
    t.addDir('e', { mode: 0o700 });
    assert.equal(t.get('e')?.mode, 0o700);
    assert.ok(t.has('e/child'));
  });
});

describe('Tree content', () => {
  it('keeps owners, modes, mtimes, devices, fifos and hard links from tar', async () => {
    const t = newTree();
    const big = Buffer.alloc(100_000, 7);
    await t.mergeTar(
      await tarOf([
        { name: './', type: 'directory', mode: 0o755 },
        { name: './etc/', type: 'directory', mode: 0o750, uid: 0, gid: 4 },
        { name: './etc/a', body: 'AAA', mode: 0o640, uid: 1000, gid: 1001, mtime: new Date(1_700_000_000_000) },
        { name: './etc/b', type: 'link', linkname: './etc/a' },
        { name: './dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: './dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
        { name: './run/fifo', type: 'fifo', mode: 0o600 },
        { name: './big', body: big },
      ]),
      { layer: 'base' },
    );
    assert.deepEqual(
      { ...t.get('etc/a'), data: undefined },
      { path: 'etc/a', type: 'file', mode: 0o640, uid: 1000, gid: 1001, mtime: 1_700_000_000, size: 3, data: undefined, layer: 'base' },
    );
    assert.equal(t.get('etc')?.gid, 4);
    assert.equal(t.get('etc/b')?.type, 'hardlink');
    assert.equal(t.get('etc/b')?.linkTarget, 'etc/a');
    assert.deepEqual([t.get('dev/null')?.type, t.get('dev/null')?.rdevMajor, t.get('dev/null')?.rdevMinor], ['char', 1, 3]);
    assert.equal(t.get('dev/sda')?.type, 'block');
    assert.equal(t.get('run/fifo')?.type, 'fifo');
    const b = t.get('big');
    assert.ok(b?.source?.startsWith(t.storeDir), 'large members go to the store');
    assert.deepEqual(readFileSync(b?.source as string), big);
    // Removing the file keeps the content reachable through its remaining link.
    t.remove('etc/a');
    assert.equal(t.get('etc/b')?.type, 'file');
    assert.equal(t.get('etc/b')?.data?.toString(), 'AAA');
    assert.deepEqual(t.stats(), { files: 2, dirs: 8, bytes: 100_003 });
  });

  it('canonicalises usr-merge aliases and refuses conflicting alias symlinks', async () => {
    const t = newTree();
    await t.mergeTar(
      await tarOf([
        { name: './bin/', type: 'directory' },
        { name: './bin/ls', body: 'ls', mode: 0o755 },
        { name: './lib/x86_64-linux-gnu/libc.so.6', body: 'libc' },
        { name: './bin/sh', type: 'symlink', linkname: 'dash' },
        { name: './sbin/ip', type: 'link', linkname: './bin/ls' },
        { name: './lib64', type: 'symlink', linkname: 'usr/lib64' },
      ]),
      { layer: 'debs' },
    );
    assert.equal(t.get('bin')?.type, 'dir', "get('bin') resolves to usr/bin");
    assert.equal(t.get('usr/bin/ls')?.data?.toString(), 'ls');
    assert.equal(t.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.size, 4);
    assert.equal(t.get('usr/sbin/ip')?.linkTarget, 'usr/bin/ls');
    const top = t
      .entries()
      .filter((e) => !e.path.includes('/'))
      .map((e) => [e.path, e.type, e.linkTarget]);
    assert.deepEqual(top, [
      ['bin', 'symlink', 'usr/bin'],
      ['lib', 'symlink', 'usr/lib'],
      ['lib64', 'symlink', 'usr/lib64'],
      ['sbin', 'symlink', 'usr/sbin'],
      ['usr', 'dir', undefined],
    ]);
    await assert.rejects(
      t.mergeTar(await tarOf([{ name: 'lib', type: 'symlink', linkname: '/opt/evil' }]), { layer: 'x' }),
      rejects('x', 'lib'),
    );
    const plain = newTree(false);
    plain.addFile('bin/ls', Buffer.alloc(0));
    assert.equal(plain.get('bin')?.type, 'dir');
  });

  it('merges host directories without following symlinks', async () => {
    const host = mkdtempSync(join(base, 'rf-host-'));
    mkdirSync(join(host, 'etc'));
    writeFileSync(join(host, 'etc', 'hostname'), 'node\n');
    symlinkSync('/etc', join(host, 'link-to-etc'));
    symlinkSync('/etc/passwd', join(host, 'etc', 'passwd'));
    const t = newTree();
    await t.mergeDirectory(host, { layer: 'overlay', into: 'opt/o', uid: 0, gid: 0 });
    assert.equal(t.get('opt/o/link-to-etc')?.type, 'symlink');
    assert.equal(t.get('opt/o/link-to-etc')?.linkTarget, '/etc');
    assert.equal(t.get('opt/o/etc/passwd')?.type, 'symlink');
    assert.equal(t.has('opt/o/link-to-etc/passwd'), false);
    const f = t.get('opt/o/etc/hostname');
    assert.equal(f?.size, 5);
    assert.ok(f?.source?.startsWith(t.storeDir));
    assert.equal(readFileSync(f.source as string, 'utf8'), 'node\n');
  });

  it('prunes by glob and keeps what opts.keep protects', () => {
    const t = newTree();
    for (const p of [
      'usr/share/doc/a/README',
      'usr/share/doc/a/copyright',
      'usr/share/doc/b/NEWS.gz',
      'usr/share/man/man1/ls.1.gz',
      'usr/share/locale/de/LC_MESSAGES/x.mo',
      'usr/bin/ls',
    ])
      t.addFile(p, Buffer.alloc(1));
    t.prune(['usr/share/doc/**', 'usr/share/man/**', 'usr/share/locale/**'], { keep: ['usr/share/doc/*/copyright'] });
    const left = t
      .entries()
      .map((e) => e.path)
      .filter((p) => p.startsWith('usr/share/'));
    assert.deepEqual(left, ['usr/share/doc', 'usr/share/doc/a', 'usr/share/doc/a/copyright', 'usr/share/locale', 'usr/share/man']);
    assert.ok(t.has('usr/bin/ls'));
    t.remove('usr/share');
    assert.equal(t.has('usr/share/doc/a/copyright'), false);
  });
});
