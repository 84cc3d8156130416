/**
 * Test-only: a DiskIo over memory, with faults to inject (a write that fails,
 * a write that comes up short forever, a device that silently drops writes
 * in a range). Never imported by agent code.
 */
import type { DiskHandle, DiskIo } from '../../src/hardware/disks/overwrite-io.js';

export interface FakeDisk {
  data: Buffer;
  /** A write covering this byte throws EIO. */
  failWriteAt?: number;
  /** Writes at or past this byte take 0 bytes (a device smaller than it says). */
  endsAt?: number;
  /** Every write takes at most this many bytes (short writes the caller must continue). */
  maxWrite?: number;
  /** Writes into [from, to) are acknowledged but not stored. */
  dropWrites?: { from: number; to: number };
  /** The device really is this many bytes larger than `data` (reads past the end see old data). */
  hiddenTail?: number;
  writes: number;
  opened: number;
}

/** A disk holding `fill` in every byte, or by default a non-uniform "previous tenant" pattern. */
export function fakeDisk(size: number, fill?: number): FakeDisk {
  const data = Buffer.alloc(size, fill ?? 0);
  if (fill === undefined) for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
  return { data, writes: 0, opened: 0 };
}

export function fakeDiskIo(disks: Record<string, FakeDisk>): DiskIo {
  const get = (dev: string): FakeDisk => {
    const d = disks[dev];
    if (!d) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${dev}'`), { code: 'ENOENT' });
    return d;
  };
  return {
    size: async (dev) => get(dev).data.length,
    async open(dev): Promise<DiskHandle> {
      const d = get(dev);
      d.opened++;
      return {
        bufferedReads: 0,
        alloc: async (n) => Buffer.alloc(n),
        async write(buf, off, len, pos) {
          d.writes++;
          if (d.failWriteAt !== undefined && d.failWriteAt >= pos && d.failWriteAt < pos + len) {
            throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
          }
          const end = Math.min(pos + Math.min(len, d.maxWrite ?? len), d.endsAt ?? d.data.length, d.data.length);
          if (end <= pos) return 0;
          for (let i = pos; i < end; i++) {
            if (d.dropWrites && i >= d.dropWrites.from && i < d.dropWrites.to) continue;
            d.data[i] = buf[off + i - pos]!;
          }
          return end - pos;
        },
        async read(buf, off, len, pos) {
          const limit = d.data.length + (d.hiddenTail ?? 0);
          const end = Math.min(pos + len, limit);
          if (end <= pos) return 0;
          for (let i = pos; i < end; i++) buf[off + i - pos] = i < d.data.length ? d.data[i]! : 0x5a;
          return end - pos;
        },
        sync: async () => {},
        dropCache: async () => {},
        close: async () => {},
      };
    },
  };
}
