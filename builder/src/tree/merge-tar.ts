/**
 * Merge an (uncompressed) tar stream into a Tree. Owners, modes, mtimes,
 * hard links and device nodes come from the headers; nothing needs root
 * because nothing is created on the host except plain content files in the
 * tree's store (opened O_EXCL, so never through a pre-existing symlink).
 */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { extract, type Header } from 'tar-stream';
import { UserError } from '../errors.js';
import { splitTreePath } from './paths.js';
import type { MergeOptions, Tree } from './tree.js';
import type { EntryAttrs } from './types.js';

/** Members up to this size stay in memory: cheaper than one store file each. */
const INLINE_MAX = 16 * 1024;

/** Join a member name under `into`; absolute names and '..' are refused, never resolved. */
export function joinMemberPath(name: string, into: string, layer: string): string {
  let parts: string[];
  try {
    parts = splitTreePath(name, true);
  } catch (e) {
    throw new UserError(`layer '${layer}': entry '${name}' rejected: ${(e as Error).message}`, {
      hint: 'layers must use relative paths inside the root; rebuild the archive without absolute or ".." names',
      cause: e,
    });
  }
  const rel = parts.join('/');
  return into && rel ? `${into}/${rel}` : into || rel;
}

export async function mergeTarInto(tree: Tree, input: Readable, opts: MergeOptions): Promise<void> {
  const into = opts.into ? tree.resolve(opts.into, opts.layer) : '';
  if (into) tree.addDir(into, { layer: opts.layer });
  const ex = extract();
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex);
  for await (const entry of ex) {
    const h = entry.header;
    const path = joinMemberPath(h.name, into, opts.layer);
    if (opts.intercept && !opts.intercept(path, h.type ?? 'file')) {
      entry.resume();
      continue;
    }
    const attrs = headerAttrs(h, opts.layer);
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
      case null:
      case undefined: {
        const size = h.size ?? 0;
        // Validate the destination before spending I/O on the content.
        tree.resolve(path, opts.layer);
        if (size <= INLINE_MAX) {
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          tree.addFile(path, Buffer.concat(chunks), attrs);
        } else {
          const dest = tree.allocateStorePath();
          // 'wx' = O_CREAT|O_EXCL: never opens through an existing file or symlink.
          const fh = await open(dest, 'wx', 0o600);
          try {
            for await (const c of entry) await fh.write(c as Buffer);
          } finally {
            await fh.close();
          }
          tree.addFile(path, { source: dest, size }, attrs);
        }
        continue;
      }
      case 'directory':
        tree.addDir(path, attrs);
        break;
      case 'symlink':
        tree.addSymlink(path, h.linkname ?? '', attrs);
        break;
      case 'link':
        tree.addHardlink(path, joinMemberPath(h.linkname ?? '', into, opts.layer), attrs);
        break;
      case 'character-device':
      case 'block-device':
        tree.addDevice(path, h.type === 'character-device' ? 'char' : 'block', h.devmajor ?? 0, h.devminor ?? 0, attrs);
        break;
      case 'fifo':
        tree.addFifo(path, attrs);
        break;
      default:
        throw new UserError(`layer '${opts.layer}': entry '${h.name}' has unsupported tar type '${h.type}'`, {
          hint: 'only files, directories, symlinks, hard links, devices and fifos can go into a ramdisk',
        });
    }
    entry.resume();
  }
}

function headerAttrs(h: Header, layer: string): EntryAttrs {
  return {
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
    layer,
  };
}
