/**
 * The container's filesystem as ramforge ships it (container.tar.gz):
 * the tree `docker export` gives, without what the engine itself wrote
 * into it, packed reproducibly: entries sorted, mtimes clamped to
 * SOURCE_DATE_EPOCH, owners kept (numeric only: the host that unpacks it
 * has other users), no xattrs, gzip without a name or a time.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tarStream } from '../archive/tar-writer.js';
import type { Tree } from '../tree/tree.js';

/**
 * What the engine writes into every container (its "init layer",
 * moby daemon/initlayer): mount points for what it binds at start, and
 * directories for the kernel filesystems.
 */
export const INIT_LAYER_FILES = ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console'];
export const INIT_LAYER_DIRS = ['dev/pts', 'dev/shm', 'proc', 'sys'];

/**
 * Add what `docker export` adds to an image's own files, so a tree
 * flattened from an image archive is the tree the engine exports.
 */
export function addInitLayer(tree: Tree, mtime: number): void {
  // The engine makes missing parents at creation time (clamped to the epoch, as everything is).
  for (const d of ['dev', 'etc']) if (!tree.has(d)) tree.addDir(d, { mode: 0o755, mtime, layer: 'init-layer' });
  for (const d of INIT_LAYER_DIRS) if (!tree.has(d)) tree.addDir(d, { mode: 0o755, mtime, layer: 'init-layer' });
  for (const f of INIT_LAYER_FILES) if (!tree.has(f)) tree.addFile(f, Buffer.alloc(0), { mode: 0o755, mtime, layer: 'init-layer' });
  if (!tree.has('etc/mtab')) tree.addSymlink('etc/mtab', '/proc/mounts', { mtime, layer: 'init-layer' });
}

/**
 * Remove the engine's artefacts: /.dockerenv, and the empty mount points
 * it made for resolv.conf, hosts, hostname and the console (a file an
 * image ships with content stays). Returns what was removed.
 */
export function removeEngineArtefacts(tree: Tree): string[] {
  const removed: string[] = [];
  for (const f of INIT_LAYER_FILES) {
    const e = tree.get(f);
    if (!e) continue;
    if (f === '.dockerenv' || (e.type === 'file' && (e.size ?? 0) === 0)) {
      tree.remove(f);
      removed.push(f);
    }
  }
  return removed;
}

export interface ContainerArchive {
  file: string;
  bytes: number;
  sha256: string;
  /** sha256 of the uncompressed tar: the tree's identity, whatever the compressor. */
  treeSha256: string;
  entries: number;
}

/**
 * gzip level of container.tar.gz (the cached archive; with coreos.base the boot unpacks it with pigz, whose
 * speed hardly depends on the level); the build compresses it once per image. Measured on the default container (docs/coreos.md, Build).
 */
export const CONTAINER_GZIP_LEVEL = 6;

/** Write the tree as a gzip'd tar, reproducibly. */
export async function writeContainerArchive(
  tree: Tree,
  out: string,
  epoch: number,
  level = CONTAINER_GZIP_LEVEL,
): Promise<ContainerArchive> {
  const entries = tree.entries();
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  let bytes = 0;
  const tap = (h: ReturnType<typeof createHash>, count = false) =>
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        if (count) bytes += chunk.length;
        cb(null, chunk);
      },
    });
  // zlib's gzip header has no name and mtime 0: the same tree gives the same bytes.
  await pipeline(tarStream(entries, { epoch }), tap(tarHash), createGzip({ level }), tap(gzHash, true), createWriteStream(out));
  return { file: out, bytes, sha256: gzHash.digest('hex'), treeSha256: tarHash.digest('hex'), entries: entries.length };
}
