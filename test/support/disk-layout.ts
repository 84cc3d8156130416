/**
 * Partitions of a disk image file, read on the host from its partition table
 * (GPT, else MBR primaries) for a given logical sector size: the host tools
 * assume 512-byte sectors for files, and /dev/loopNpM needs udev, which this
 * host may not run. For tests that check what a guest left on its disk.
 */
import assert from 'node:assert/strict';
import { readAt } from './loopdisk.js';

export interface DiskPartition {
  /** 1-based, as the guest's kernel numbers it. */
  number: number;
  offset: number;
  size: number;
}

/** The used entries of the GPT at LBA 1 or, without one, of the MBR's four primary slots. */
export function diskPartitions(file: string, sectorSize: 512 | 4096 = 512): DiskPartition[] {
  const hdr = readAt(file, sectorSize, 512);
  const out: DiskPartition[] = [];
  if (hdr.toString('latin1', 0, 8) === 'EFI PART') {
    const [lba, count, size] = [Number(hdr.readBigUInt64LE(72)), hdr.readUInt32LE(80), hdr.readUInt32LE(84)];
    const table = readAt(file, lba * sectorSize, count * size);
    for (let i = 0; i < count; i++) {
      const e = table.subarray(i * size, (i + 1) * size);
      if (e.subarray(0, 16).every((b) => b === 0)) continue;
      const [first, last] = [Number(e.readBigUInt64LE(32)), Number(e.readBigUInt64LE(40))];
      out.push({ number: i + 1, offset: first * sectorSize, size: (last - first + 1) * sectorSize });
    }
    return out;
  }
  const mbr = readAt(file, 0, 512);
  assert.equal(mbr.readUInt16LE(510), 0xaa55, `${file}: neither a GPT nor an MBR`);
  for (let i = 0; i < 4; i++) {
    const e = mbr.subarray(446 + i * 16, 446 + (i + 1) * 16);
    const [type, first, count] = [e[4]!, e.readUInt32LE(8), e.readUInt32LE(12)];
    if (type === 0 || count === 0) continue;
    out.push({ number: i + 1, offset: first * sectorSize, size: count * sectorSize });
  }
  return out;
}
