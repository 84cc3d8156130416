/**
 * Reproducible tar of a Tree (rootfs tarball output, later OCI layers):
 * entries in the given order, uname/gname empty, mtimes clamped, no
 * atime/ctime. A hard link in tar must follow the file it names, so the
 * first member of each link group in output order carries the content and
 * the others link to it, whichever of them the Tree calls the file.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pack, type Header as TarHeader, type Pack } from 'tar-stream';
import { InternalError } from '../errors.js';
import type { TreeEntry } from '../tree/types.js';

type Header = Partial<TarHeader> & { name: string };

export interface TarOptions {
  epoch?: number;
}

export function tarStream(entries: Iterable<TreeEntry>, opts: TarOptions = {}): Readable {
  const p = pack();
  const list = [...entries];
  writeEntries(p, list, opts).then(
    () => p.finalize(),
    (e: unknown) => p.destroy(e as Error),
  );
  // tar-stream packs into a streamx stream; callers get a plain Node Readable.
  return Readable.from(p, { objectMode: false, highWaterMark: 1 << 20 });
}

async function writeEntries(p: Pack, list: TreeEntry[], opts: TarOptions): Promise<void> {
  const files = new Map<string, TreeEntry>();
  for (const e of list) if (e.type === 'file') files.set(e.path, e);
  /** Link group (file path) → path of its first member written. */
  const firstWritten = new Map<string, string>();
  for (const e of list) {
    const key = e.type === 'hardlink' ? (e.linkTarget as string) : e.path;
    const inode = e.type === 'hardlink' || e.type === 'file' ? files.get(key) : e;
    if (!inode) throw new InternalError(`tar: hard link '${e.path}' points at '${key}', which is not among the entries being packed`);
    const mtime = Math.max(0, opts.epoch === undefined ? inode.mtime : Math.min(inode.mtime, opts.epoch));
    const h: Header = {
      name: e.path,
      mode: inode.mode & 0o7777,
      uid: inode.uid,
      gid: inode.gid,
      mtime: new Date(mtime * 1000),
      uname: '',
      gname: '',
    };
    if (e.type === 'file' || e.type === 'hardlink') {
      const first = firstWritten.get(key);
      if (first !== undefined) {
        await addEntry(p, { ...h, type: 'link', linkname: first, size: 0 });
        continue;
      }
      firstWritten.set(key, e.path);
      const size = inode.data ? inode.data.length : (inode.size ?? 0);
      if (inode.data || size === 0) await addEntry(p, { ...h, type: 'file', size }, inode.data ?? Buffer.alloc(0));
      else await addFile(p, { ...h, type: 'file', size }, inode.source as string);
      continue;
    }
    switch (e.type) {
      case 'dir':
        await addEntry(p, { ...h, type: 'directory' });
        break;
      case 'symlink':
        await addEntry(p, { ...h, type: 'symlink', linkname: e.linkTarget ?? '' });
        break;
      case 'char':
      case 'block':
        await addEntry(p, {
          ...h,
          type: e.type === 'char' ? 'character-device' : 'block-device',
          devmajor: e.rdevMajor ?? 0,
          devminor: e.rdevMinor ?? 0,
        });
        break;
      case 'fifo':
        await addEntry(p, { ...h, type: 'fifo' });
        break;
    }
  }
}

function addEntry(p: Pack, h: Header, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (data) p.entry(h, data, cb);
    else p.entry(h, cb);
  });
}

async function addFile(p: Pack, h: Header, source: string): Promise<void> {
  let done!: () => void;
  let fail!: (e: Error) => void;
  const written = new Promise<void>((res, rej) => {
    done = res;
    fail = rej;
  });
  const sink = p.entry(h, (err) => (err ? fail(err) : done()));
  for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) {
    if (!sink.write(chunk as Buffer)) await new Promise<void>((res) => sink.once('drain', () => res()));
  }
  sink.end(undefined); // streamx: end() with no final chunk
  await written;
}
