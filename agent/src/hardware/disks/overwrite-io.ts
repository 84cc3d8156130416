/**
 * The I/O under the overwrite engine, behind a small interface so unit tests
 * can inject short writes, failing writes and a device that drops writes.
 *
 * The real one opens the device twice: O_DIRECT for whole aligned blocks
 * (writes and read-backs bypass the page cache, so a verified block is what
 * the device returns, not what the kernel still holds) and buffered for
 * anything unaligned (a regular file's odd tail, a filesystem without
 * O_DIRECT such as tmpfs). When no O_DIRECT handle works, read-backs of a
 * block device go after BLKFLSBUF (`blockdev --flushbufs`).
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { BlockDeviceEraseError, errMsg } from '../../errors.js';
import type { ProgramRunner } from '../../util/exec.js';
import { getDeviceSize } from './disk-facts.js';

/** Memory and offset alignment used for O_DIRECT (covers 512 and 4096-byte logical blocks). */
export const DIRECT_ALIGN = 4096;

export interface DiskHandle {
  /** Reads that went through the page cache (unaligned, or no O_DIRECT handle). */
  readonly bufferedReads: number;
  /** A buffer usable with write()/read() of this handle. */
  alloc(size: number): Promise<Buffer>;
  /** One write(2); returns the bytes written (may be short). */
  write(buf: Buffer, off: number, len: number, pos: number): Promise<number>;
  /** One read(2); returns the bytes read (0 at the end of the device). */
  read(buf: Buffer, off: number, len: number, pos: number): Promise<number>;
  /** fdatasync: the data is on the device when this resolves. */
  sync(): Promise<void>;
  /** Make the next buffered reads come from the device. */
  dropCache(): Promise<void>;
  close(): Promise<void>;
}

export interface DiskIo {
  size(dev: string): Promise<number>;
  open(dev: string): Promise<DiskHandle>;
}

/**
 * Node can neither allocate aligned memory nor tell a Buffer's address, so
 * over-allocate and find the aligned view by trying a direct read of the
 * first block at each 16-byte step (malloc alignment): harmless, unlike the
 * probe write of image/block-writer.ts, so it also works before a read-only check.
 */
async function findAlignedView(fh: FileHandle, size: number): Promise<Buffer | null> {
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  for (let k = 0; k < DIRECT_ALIGN; k += 16) {
    try {
      await fh.read(raw, k, DIRECT_ALIGN, 0);
      return raw.subarray(k, k + size).fill(0);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EINVAL') throw e;
    }
  }
  return null;
}

class RealDiskHandle implements DiskHandle {
  constructor(
    private readonly dev: string,
    private readonly buffered: FileHandle,
    private directFh: FileHandle | null,
    private readonly isBlock: boolean,
    private readonly run: ProgramRunner,
  ) {}

  bufferedReads = 0;

  /** A buffer aligned for this handle's O_DIRECT I/O when one can be found (each allocation is probed: malloc's alignment depends on the size). */
  async alloc(size: number): Promise<Buffer> {
    const view = this.directFh ? await findAlignedView(this.directFh, size).catch(() => null) : null;
    return view ?? Buffer.alloc(size);
  }

  private usable(buf: Buffer, off: number, len: number, pos: number): FileHandle | null {
    if (!this.directFh) return null;
    return len % 512 === 0 && pos % 512 === 0 && off % DIRECT_ALIGN === 0 ? this.directFh : null;
  }

  async write(buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    const d = this.usable(buf, off, len, pos);
    if (d) {
      try {
        return (await d.write(buf, off, len, pos)).bytesWritten;
      } catch (e) {
        // EINVAL: this buffer or length is not aligned enough for the device; fall back for this write.
        if ((e as { code?: string }).code !== 'EINVAL') throw e;
      }
    }
    return (await this.buffered.write(buf, off, len, pos)).bytesWritten;
  }

  async read(buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    const d = this.usable(buf, off, len, pos);
    if (d) {
      try {
        return (await d.read(buf, off, len, pos)).bytesRead;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EINVAL') throw e;
      }
    }
    this.bufferedReads++;
    return (await this.buffered.read(buf, off, len, pos)).bytesRead;
  }

  async sync(): Promise<void> {
    await this.buffered.datasync();
    await this.directFh?.datasync();
  }

  async dropCache(): Promise<void> {
    // BLKFLSBUF writes back and drops the block device's page cache; Node has no ioctl().
    if (this.isBlock) await this.run(['blockdev', '--flushbufs', this.dev]);
  }

  async close(): Promise<void> {
    await Promise.all([this.buffered.close().catch(() => {}), this.directFh?.close().catch(() => {})]);
  }
}

/**
 * Write `len` bytes of `buf` at `pos`, continuing short writes to the last
 * byte: write(2) may take fewer bytes without an error (the end of a device
 * smaller than reported), so one call proves nothing. A write that takes no
 * byte, or fails, throws BlockDeviceEraseError naming the disk and the byte.
 */
export async function writeFully(dev: string, h: DiskHandle, buf: Buffer, len: number, pos: number): Promise<void> {
  let done = 0;
  while (done < len) {
    let n: number;
    try {
      n = await h.write(buf, done, len - done, pos + done);
    } catch (e) {
      throw new BlockDeviceEraseError(`writing ${dev} at byte ${pos + done} failed: ${errMsg(e)}`);
    }
    if (n <= 0)
      throw new BlockDeviceEraseError(
        `short write on ${dev}: the device took no bytes at byte ${pos + done}; it is smaller than its reported size or failing`,
      );
    done += n;
  }
}

/**
 * Read up to `len` bytes at `pos` into `buf`, continuing short reads; returns how many bytes came (fewer only at
 * the device's end). A read that fails throws BlockDeviceEraseError naming the disk and the byte.
 */
export async function readFully(dev: string, h: DiskHandle, buf: Buffer, len: number, pos: number): Promise<number> {
  let done = 0;
  while (done < len) {
    let n: number;
    try {
      n = await h.read(buf, done, len - done, pos + done);
    } catch (e) {
      throw new BlockDeviceEraseError(`reading ${dev} back at byte ${pos + done} failed: ${errMsg(e)}`);
    }
    if (n <= 0) break;
    done += n;
  }
  return done;
}

/** The real device I/O. `run` is only used for the sysfs-less size fallback and BLKFLSBUF. */
export function createDiskIo(run: ProgramRunner): DiskIo {
  return {
    size: (dev) => getDeviceSize(dev, run),
    async open(dev) {
      const isBlock = (await stat(dev)).isBlockDevice();
      // O_RDWR without O_CREAT/O_TRUNC: the device (or test file) must exist and keep its size.
      const buffered = await open(dev, constants.O_RDWR);
      const direct = await open(dev, constants.O_RDWR | constants.O_DIRECT).catch(() => null);
      return new RealDiskHandle(dev, buffered, direct, isBlock, run);
    },
  };
}
