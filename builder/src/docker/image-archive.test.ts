import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { Tree } from '../tree/tree.js';
import { flattenImage, readImageArchive } from './image-archive.js';
import { addInitLayer, removeEngineArtefacts } from './container-tree.js';

type Item = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; uid?: number };

async function tarOf(items: Item[]): Promise<Buffer> {
  const p = pack();
  for (const it of items) {
    const type = it.type ?? 'file';
    const h = { name: it.name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: it.uid ?? 0, gid: 0, mtime: new Date(1000 * 1000) };
    if (type === 'file') p.entry({ ...h, size: Buffer.byteLength(it.body ?? '') }, it.body ?? '');
    else p.entry({ ...h, ...(it.linkname ? { linkname: it.linkname } : {}) });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const LOWER: Item[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/keep', body: 'keep' },
  { name: 'etc/gone', body: 'gone' },
  { name: 'opt/', type: 'directory' },
  { name: 'opt/old/', type: 'directory' },
  { name: 'opt/old/a', body: 'a' },
  { name: 'opt/b', body: 'b' },
  { name: 'var/', type: 'directory' },
  { name: 'var/dir/', type: 'directory' },
  { name: 'var/dir/x', body: 'x' },
  { name: 'srv/owned', body: 'o', uid: 1234 },
];
const UPPER: Item[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/.wh.gone' },
  { name: 'etc/new', body: 'new' },
  { name: 'etc/newlink', type: 'link', linkname: 'etc/new' },
  { name: 'opt/', type: 'directory' },
  { name: 'opt/.wh..wh..opq' },
  { name: 'opt/c', body: 'c' },
  { name: 'var/dir', body: 'now a file' },
];

function treeView(tree: Tree): string[] {
  return tree.entries().map((e) => `${e.path} ${e.type}${e.type === 'file' && e.data ? `=${e.data.toString()}` : ''} ${e.uid}`);
}

function digest(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

test('docker save and OCI layouts flatten with whiteouts and opaque directories applied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'image-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lower = await tarOf(LOWER);
  const upper = await tarOf(UPPER);

  const save = join(dir, 'save');
  mkdirSync(join(save, 'l1'), { recursive: true });
  mkdirSync(join(save, 'l2'));
  writeFileSync(join(save, 'l1', 'layer.tar'), lower);
  writeFileSync(join(save, 'l2', 'layer.tar'), upper);
  writeFileSync(
    join(save, 'manifest.json'),
    JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]),
  );

  const oci = join(dir, 'oci');
  mkdirSync(join(oci, 'blobs', 'sha256'), { recursive: true });
  const blob = (b: Buffer) => {
    const h = digest(b);
    writeFileSync(join(oci, 'blobs', 'sha256', h), b);
    return `sha256:${h}`;
  };
  const lgz = gzipSync(lower);
  const manifest = Buffer.from(JSON.stringify({ layers: [{ digest: blob(lgz) }, { digest: blob(upper) }] }));
  writeFileSync(join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(oci, 'index.json'), JSON.stringify({ manifests: [{ digest: blob(manifest) }] }));

  const views: string[][] = [];
  for (const src of [save, oci]) {
    const image = await readImageArchive(src, join(dir, 'scratch'));
    const tree = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
    await flattenImage(tree, image);
    views.push(treeView(tree));
  }
  assert.deepEqual(views[0], views[1]);
  assert.deepEqual(views[0], [
    'etc dir 0',
    'etc/keep file=keep 0',
    'etc/new file=new 0',
    'etc/newlink hardlink 0',
    'opt dir 0',
    'opt/c file=c 0',
    'srv dir 0',
    'srv/owned file=o 1234',
    'var dir 0',
    'var/dir file=now a file 0',
  ]);
});

test('a tarred image archive is unpacked first; a missing or foreign file is a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'image-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const layer = await tarOf([{ name: 'hello', body: 'hi' }]);
  const p = pack();
  p.entry({ name: 'abc/layer.tar', size: layer.length }, layer);
  p.entry({ name: 'manifest.json' }, JSON.stringify([{ Layers: ['abc/layer.tar'] }]));
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  writeFileSync(join(dir, 'save.tar'), Buffer.concat(chunks));
  const image = await readImageArchive(join(dir, 'save.tar'), join(dir, 'scratch'));
  const tree = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
  await flattenImage(tree, image);
  assert.equal(tree.get('hello')?.data?.toString(), 'hi');

  await assert.rejects(readImageArchive(join(dir, 'nope.tar'), join(dir, 's2')), /coreos\.container: .*nope\.tar does not exist/);
  writeFileSync(join(dir, 'plain.tar'), await tarOf([{ name: 'x', body: 'y' }]));
  await assert.rejects(readImageArchive(join(dir, 'plain.tar'), join(dir, 's3')), /not a docker save archive or an OCI image layout/);
});

test('the init layer is what export adds; the engine artefacts go, files with content stay', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'image-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tree = new Tree({ storeDir: dir, usrMerge: false });
  tree.addFile('etc/hosts', Buffer.from('127.0.0.1 localhost\n'));
  addInitLayer(tree, 100);
  assert.deepEqual(removeEngineArtefacts(tree).sort(), ['.dockerenv', 'dev/console', 'etc/hostname', 'etc/resolv.conf']);
  assert.deepEqual(
    tree.entries().map((e) => e.path),
    ['dev', 'dev/pts', 'dev/shm', 'etc', 'etc/hosts', 'etc/mtab', 'proc', 'sys'],
  );
});
