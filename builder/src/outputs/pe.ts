/**
 * Just enough of the PE/COFF format for Secure Boot decisions and the UKI:
 * is there an Authenticode signature (the security data directory), and
 * where does the image's last section end. Read by hand: the facts needed
 * are four header fields, and no npm PE parser is kept up for this job
 * (sbverify --list would also do, but needs a process per question).
 */
import { open, readFile, writeFile } from 'node:fs/promises';

export interface PeSection {
  name: string;
  virtualAddress: number;
  virtualSize: number;
}

export interface PeInfo {
  /** PE32+ (64-bit) or PE32. */
  pe32plus: boolean;
  imageBase: bigint;
  sectionAlignment: number;
  sections: PeSection[];
  /** Size of the Authenticode signature table (security directory); 0 when unsigned. */
  signatureBytes: number;
}

/** Parse the headers of a PE file (e.g. a bzImage with an EFI stub, shim, GRUB). Undefined when `buf` is no PE image. */
export function parsePeHeaders(buf: Buffer): PeInfo | undefined {
  if (buf.length < 0x40 || buf.readUInt16LE(0) !== 0x5a4d) return undefined; // "MZ"
  const pe = buf.readUInt32LE(0x3c);
  if (pe + 24 > buf.length || buf.readUInt32LE(pe) !== 0x00004550) return undefined; // "PE\0\0"
  const nsections = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  const opt = pe + 24;
  if (opt + optSize > buf.length) return undefined;
  const magic = buf.readUInt16LE(opt);
  if (magic !== 0x20b && magic !== 0x10b) return undefined;
  const pe32plus = magic === 0x20b;
  const imageBase = pe32plus ? buf.readBigUInt64LE(opt + 24) : BigInt(buf.readUInt32LE(opt + 28));
  const sectionAlignment = buf.readUInt32LE(opt + 32);
  const dirs = opt + (pe32plus ? 112 : 96);
  const ndirs = buf.readUInt32LE(dirs - 4);
  // Data directory 4 is the certificate table: file offset and size of the WIN_CERTIFICATEs.
  const signatureBytes = ndirs > 4 && dirs + 5 * 8 <= opt + optSize ? buf.readUInt32LE(dirs + 4 * 8 + 4) : 0;
  const sections: PeSection[] = [];
  const table = opt + optSize;
  for (let i = 0; i < nsections && table + (i + 1) * 40 <= buf.length; i++) {
    const s = table + i * 40;
    sections.push({
      name: buf
        .subarray(s, s + 8)
        .toString('latin1')
        .replace(/\0+$/, ''),
      virtualSize: buf.readUInt32LE(s + 8),
      virtualAddress: buf.readUInt32LE(s + 12),
    });
  }
  return { pe32plus, imageBase, sectionAlignment, sections, signatureBytes };
}

/** Read the PE headers of a file (the first 64 KiB hold them for every image we meet). */
export async function readPeInfo(path: string): Promise<PeInfo | undefined> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parsePeHeaders(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** True when the file is a PE image carrying an Authenticode signature. */
export async function isSignedPe(path: string): Promise<boolean> {
  return ((await readPeInfo(path))?.signatureBytes ?? 0) > 0;
}

/**
 * The PE optional header checksum (as in Windows' CheckSumMappedFile): a
 * 16-bit one's-complement style sum of the file with the checksum field
 * taken as zero, plus the file length.
 */
export function peChecksum(buf: Buffer, checksumOffset: number): number {
  let sum = 0;
  const end = buf.length & ~1;
  for (let i = 0; i < end; i += 2) {
    if (i === checksumOffset || i === checksumOffset + 2) continue;
    sum += buf.readUInt16LE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (buf.length & 1) {
    sum += buf[buf.length - 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum + buf.length) >>> 0;
}

/**
 * Set the COFF TimeDateStamp of a PE file and recompute its checksum.
 * objcopy (binutils 2.40) stamps the current time into every PE it writes
 * and does not honour SOURCE_DATE_EPOCH for PE output, so a reproducible
 * image must have it pinned afterwards, and before signing: Authenticode
 * hashes the stamp (it skips only the checksum and the certificate table).
 */
export async function pinPeTimestamp(path: string, timestamp: number): Promise<void> {
  const buf = await readFile(path);
  const pe = buf.readUInt32LE(0x3c);
  if (buf.readUInt32LE(pe) !== 0x00004550) throw new Error(`${path} is not a PE image`);
  buf.writeUInt32LE(timestamp >>> 0, pe + 8);
  const checksumOffset = pe + 24 + 64;
  buf.writeUInt32LE(peChecksum(buf, checksumOffset), checksumOffset);
  await writeFile(path, buf);
}
