/**
 * coreos.oem: repack — the OEM files and the base initramfs as ONE archive,
 * the way IPA's CoreOS build made its ramdisk (the PXE image unpacked, the
 * OEM directory added, packed again), instead of CoreOS's documented
 * "Adding a Custom OEM" (an appended member, oem: append).
 *
 * - Leading uncompressed members of the base (the early microcode cpio the
 *   kernel looks for at the very start) are kept byte for byte: the kernel
 *   reads them before anything is decompressed.
 * - Every other member is decompressed and its entries copied in order
 *   into one newc archive (inode numbers renumbered, so that two archives'
 *   hard-link groups cannot merge; hard links, owners, modes, mtimes and
 *   device numbers kept), followed by the OEM entries (later entries win in
 *   the kernel's unpacker, as with an appended member), one trailer.
 * - That archive is compressed with the method of the base's first
 *   compressed member: the base kernel read that one, so it reads this.
 *   lzma and bzip2 (which ramforge reads but does not write) are refused
 *   with the fix (oem: append). A base that is all plain cpio stays plain.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../errors.js';
import { ByteReader } from '../../archive/byte-reader.js';
import { compressStream, decompressStream, type MemberMethod } from '../../archive/compress.js';
import { encodeHeader, HEADER_SIZE, pad4 } from '../../archive/cpio-format.js';
import { readOneArchive } from '../../archive/cpio-reader.js';
import { cpioStream } from '../../archive/cpio-writer.js';
import { listInitramfs, type InitramfsMember } from '../../archive/initramfs-list.js';
import type { TreeEntry } from '../../tree/types.js';

export interface RepackResult {
  /** The compression of the merged archive (the base's). */
  compression: MemberMethod;
  /** Leading plain members kept as they were (early microcode). */
  keptPlain: number;
  /** Base members merged into the one archive. */
  merged: number;
  /** Entries copied from the base. */
  baseEntries: number;
}

/** The OEM entries' inode numbers start at 1 (cpio-writer); the base's are moved above them. */
const BASE_INO = 0x01000000;

/** Write `out`: the base initramfs with `oem` (tree entries, parents first) repacked into one archive. */
export async function repackInitramfs(opts: { base: string; oem: TreeEntry[]; out: string; epoch: number }): Promise<RepackResult> {
  const members = await listInitramfs(opts.base);
  const firstCompressed = members.findIndex((m) => m.compression !== 'none');
  const keptPlain = Math.max(firstCompressed, 0);
  const rest = members.slice(keptPlain);
  const method = firstCompressed < 0 ? 'none' : members[firstCompressed]!.compression;
  if (method === 'lzma' || method === 'bzip2')
    throw new UserError(`coreos.base.initramfs: ${opts.base} is ${method}-compressed; ramforge can read it but not write ${method}`, {
      hint: 'use coreos.oem: append (the OEM files as one more member, the base left as it is)',
    });
  const compression: MemberMethod = method;

  // The kept prefix, byte for byte (with the zero padding that aligns what follows).
  if (keptPlain > 0)
    await pipeline(createReadStream(opts.base, { start: 0, end: members[keptPlain]!.offset - 1 }), createWriteStream(opts.out));
  else await (await open(opts.out, 'w')).close();
  let baseEntries = 0;
  const body = async function* (): AsyncGenerator<Buffer> {
    let next = BASE_INO;
    for (const m of rest) {
      const inos = new Map<string, number>();
      const r = new ByteReader(memberStream(opts.base, m));
      let archive = 0;
      while (await r.skipZeros()) {
        archive++;
        for await (const e of readOneArchive(r, { data: true })) {
          const key = `${archive}:${e.ino}`;
          let ino = inos.get(key);
          if (ino === undefined) inos.set(key, (ino = next++));
          const name = Buffer.from(`${e.name}\0`);
          const data = e.data ?? Buffer.alloc(0);
          const head = Buffer.alloc(HEADER_SIZE + name.length + pad4(HEADER_SIZE + name.length));
          encodeHeader(head, 0, {
            ino,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            nlink: e.nlink,
            mtime: e.mtime,
            size: data.length,
            devMajor: 0,
            devMinor: 0,
            rdevMajor: e.rdev.major,
            rdevMinor: e.rdev.minor,
            nameSize: name.length,
            check: 0,
          });
          name.copy(head, HEADER_SIZE);
          yield head;
          if (data.length) {
            yield data;
            const pad = pad4(data.length);
            if (pad) yield Buffer.alloc(pad);
          }
          baseEntries++;
        }
      }
    }
    // The OEM entries and the one trailer.
    for await (const chunk of cpioStream(opts.oem, { epoch: opts.epoch })) yield chunk as Buffer;
  };
  await pipeline(Readable.from(body()), compressStream(compression), createWriteStream(opts.out, { flags: 'a' }));
  return { compression, keptPlain, merged: rest.length, baseEntries };
}

/** One member's decompressed bytes. */
function memberStream(file: string, m: InitramfsMember): Readable {
  const src = createReadStream(file, { start: m.offset, end: m.offset + m.compressedSize - 1, highWaterMark: 1 << 20 });
  if (m.compression === 'none') return src;
  const dec = decompressStream(m.compression);
  src.on('error', (e) => dec.destroy(e));
  return src.pipe(dec);
}
