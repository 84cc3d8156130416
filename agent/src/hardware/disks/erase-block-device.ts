/** IPA's erase_block_device: firmware erase when possible, the agent's verified overwrite otherwise. */
import { BlockDeviceEraseError } from '../../errors.js';
import type { ProgramRunner } from '../../util/exec.js';
import type { Log } from '../../util/log.js';
import type { Node } from '../types.js';
import { isNvme } from './disk-facts.js';
import { overwriteDevice } from './overwrite.js';
import type { DiskIo } from './overwrite-io.js';
import { isUniform, sampleOffsets, type Sample } from './overwrite-pattern.js';
import { eraseAta, eraseNvme } from './secure-erase.js';

/** driver_internal_info knobs, with IPA's defaults. */
export interface EraseSettings {
  iterations: number;
  zeroize: boolean;
  continueIfSecureEraseFailed: boolean;
  enableNvmeSecureErase: boolean;
  enableAtaSecureErase: boolean;
  skipReadOnly: boolean;
  concurrency: number;
  /** driver_internal_info wipe_special_filesystems (IPA: false turns the guard off for this node). */
  wipeSpecialFilesystemsGuard: boolean;
}

const bool = (v: unknown, dflt: boolean): boolean =>
  v === undefined || v === null ? dflt : typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : Boolean(v);
const int = (v: unknown, dflt: number): number => (Number.isInteger(Number(v)) && v !== null && v !== '' ? Number(v) : dflt);

export function readEraseSettings(node: Node | undefined, defaultConcurrency = 1): EraseSettings {
  const d = (node?.driver_internal_info ?? {}) as Record<string, unknown>;
  return {
    iterations: Math.max(0, int(d.agent_erase_devices_iterations, 1)),
    zeroize: bool(d.agent_erase_devices_zeroize, true),
    continueIfSecureEraseFailed: bool(d.agent_continue_if_secure_erase_failed, false),
    enableNvmeSecureErase: bool(d.agent_enable_nvme_secure_erase, true),
    enableAtaSecureErase: bool(d.agent_enable_ata_secure_erase, true),
    skipReadOnly: bool(d.agent_erase_skip_read_only, false),
    concurrency: Math.max(1, int(d.disk_erasure_concurrency, defaultConcurrency)),
    wipeSpecialFilesystemsGuard: bool(d.wipe_special_filesystems, true),
  };
}

export interface EraseContext {
  run: ProgramRunner;
  io: DiskIo;
  signal?: AbortSignal;
  log?: Log;
}

/**
 * Erase one device; returns the method that really ran. IPA's order: NVMe
 * format or ATA secure erase when the device supports it, else (or when the
 * firmware erase failed and the operator allows it) the agent's overwrite.
 */
export async function eraseBlockDevice(dev: string, s: EraseSettings, c: EraseContext): Promise<string> {
  try {
    if (s.enableNvmeSecureErase && isNvme(dev)) {
      const m = await withFirmwareCheck(dev, c, () => eraseNvme(dev, c.run));
      if (m) return m;
    } else if (s.enableAtaSecureErase && !isNvme(dev)) {
      const m = await withFirmwareCheck(dev, c, () => eraseAta(dev, c.run, c.log));
      if (m) return m;
    }
  } catch (e) {
    if (!s.continueIfSecureEraseFailed) throw e;
    c.log?.warn(
      `erase ${dev}: firmware erase failed (${(e as Error).message}); overwriting instead (agent_continue_if_secure_erase_failed)`,
    );
  }
  if (s.iterations === 0 && !s.zeroize) return 'none (agent_erase_devices_iterations=0 and zeroize disabled)';
  const r = await overwriteDevice(dev, { iterations: s.iterations, zeroize: s.zeroize, io: c.io, signal: c.signal, log: c.log });
  return r.method;
}

/**
 * A firmware erase that reports success is checked against the device: the
 * sampled blocks that held data (not one repeated byte) before must differ
 * afterwards. IPA trusts the exit code; a drive that ignores the command
 * would then hand the old data on. What an erase leaves is vendor-defined
 * (zeros, ones, or random-looking data after a crypto erase), so a changed
 * block is all that can be asked; a blank disk gives nothing to compare.
 */
export async function withFirmwareCheck(dev: string, c: EraseContext, erase: () => Promise<string | null>): Promise<string | null> {
  const before = await readSamples(dev, c.io, FIRMWARE_SAMPLES).catch(() => null);
  const m = await erase();
  if (!m) return m;
  if (!before) return `${m} (not verified: the device could not be read)`;
  const withData = before.blocks.filter((b) => !isUniform(b.data));
  if (withData.length === 0) return `${m} (not verified: the sampled blocks held no data before)`;
  const after = await readSamples(
    dev,
    c.io,
    withData.map((b) => ({ offset: b.offset, length: b.data.length })),
  );
  const unchanged = after.blocks.filter((b, i) => b.data.equals(withData[i]!.data));
  if (unchanged.length) {
    throw new BlockDeviceEraseError(
      `${m} of ${dev} reported success but ${unchanged.length} of ${withData.length} sampled blocks still hold their old data (first at byte ${unchanged[0]!.offset}); the drive did not erase`,
    );
  }
  return `${m}, verified ${withData.length} sampled blocks changed`;
}

const FIRMWARE_SAMPLES = 16;

async function readSamples(dev: string, io: DiskIo, which: number | Sample[]): Promise<{ blocks: { offset: number; data: Buffer }[] }> {
  const list = typeof which === 'number' ? sampleOffsets(await io.size(dev), 64 * 1024, which) : which;
  const h = await io.open(dev);
  try {
    await h.dropCache();
    const buf = await h.alloc(64 * 1024);
    const blocks: { offset: number; data: Buffer }[] = [];
    for (const s of list) {
      const n = await h.read(buf, 0, s.length, s.offset);
      blocks.push({ offset: s.offset, data: Buffer.from(buf.subarray(0, n)) });
    }
    return { blocks };
  } finally {
    await h.close();
  }
}
