/**
 * Config drives (§10.4 step 6): fetch/decode the content and give it a
 * partition — the existing config-2 one, or a new 64 MiB one at the end.
 */
import { open, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { DeploymentError, InvalidCommandParamsError } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import { listPartitions } from '../hardware/disks/disk-facts.js';
import { getDeviceSize } from '../hardware/disks/disk-facts.js';
import { hasGpt, PARTITION_WAIT_MS, rescanPartitions, waitForBlockDevice } from './disk-ids.js';
import { httpGetBuffer, type HttpOptions } from '../util/http.js';

export const MAX_CONFIGDRIVE_BYTES = 64 << 20;
const TWO_TIB = 2 ** 41;

/** URL or base64(gzip(iso)) string → the ISO bytes; non-base64 bytes are taken as they are. */
export async function fetchConfigDrive(configdrive: string, http: HttpOptions = {}): Promise<Buffer> {
  let data: Buffer = /^https?:\/\//i.test(configdrive)
    ? await httpGetBuffer(configdrive, http, MAX_CONFIGDRIVE_BYTES * 2)
    : Buffer.from(configdrive, 'latin1');
  const text = data.toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) data = Buffer.from(text, 'base64');
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data, { maxOutputLength: MAX_CONFIGDRIVE_BYTES + 1 });
    } catch (e) {
      throw new InvalidCommandParamsError(
        `Config drive could not be decompressed: ${(e as Error).message}; it must be gzip+base64 (or larger than 64 MiB)`,
      );
    }
  }
  if (data.length > MAX_CONFIGDRIVE_BYTES) {
    throw new InvalidCommandParamsError(`Config drive is ${data.length} bytes, larger than the 64 MiB limit; shrink the user data`);
  }
  return data;
}

/** Size to reserve for a config drive in a partition layout, in MiB. */
export const configDriveMb = (data: Buffer): number => Math.max(1, Math.ceil(data.length / (1 << 20)));

/** A partition labelled config-2, if the image ships one; two are an error, as in IPA (which one would the instance read?). */
async function findConfigDrivePartition(dev: string, run: ProgramRunner): Promise<string | null> {
  const found: string[] = [];
  for (const p of await listPartitions(dev, run)) {
    const { stdout } = await run(['blkid', '-p', '-o', 'value', '-s', 'LABEL', p], { okCodes: [0, 2] });
    if (stdout.trim().toLowerCase() === 'config-2') found.push(p);
  }
  if (found.length > 1) {
    throw new DeploymentError(
      `More than one partition with label "config-2" exists on device ${dev}: ${found.join(' and ')}; the image must carry at most one`,
    );
  }
  return found[0] ?? null;
}

/** Reuse or create the config-drive partition of a whole-disk image; returns its path. */
export async function createConfigDrivePartition(dev: string, run: ProgramRunner): Promise<string> {
  const existing = await findConfigDrivePartition(dev, run);
  if (existing) return existing;
  const before = new Set(await listPartitions(dev, run));
  if (await hasGpt(dev)) {
    await run(['sgdisk', '-n', '0:-64MB:0', dev]);
  } else {
    const { stdout } = await run(['parted', '-s', '-m', dev, 'unit', 'MiB', 'print'], { okCodes: [0, 1] });
    // Primary and extended partitions take the four slots; logical ones (5 and up) do not (IPA's count_mbr_partitions).
    const primaries = stdout.split('\n').filter((l) => /^[1-4]:/.test(l)).length;
    if (primaries > 3)
      throw new DeploymentError(
        `Disk ${dev} already has ${primaries} primary MBR partitions, no room for a config drive; give the image a config-2 partition or use GPT`,
      );
    const size = await getDeviceSize(dev, run);
    // MBR cannot address past 2 TiB: put the partition just under that limit.
    const [start, end] = size > TWO_TIB ? [`${TWO_TIB / (1 << 20) - 65}MiB`, `${TWO_TIB / (1 << 20) - 1}MiB`] : ['-64MiB', '-0'];
    await run(['parted', '-a', 'optimal', '-s', '--', dev, 'mkpart', 'primary', 'fat32', start, end]);
  }
  await rescanPartitions(dev, run);
  const created = (await listPartitions(dev, run)).filter((p) => !before.has(p));
  if (created.length !== 1)
    throw new DeploymentError(`Could not find the new config drive partition on ${dev} (new partitions: ${created.join(', ') || 'none'})`);
  // The kernel lists it; its device node may lag (udev), and must not be replaced by a file.
  const what = await waitForBlockDevice(created[0]!, PARTITION_WAIT_MS);
  if (what) throw new DeploymentError(`'configdrive' device '${created[0]}' not found (${what}, not a block device) on ${dev}`);
  return created[0]!;
}

/**
 * Write the config drive bytes to a partition and flush. A partition smaller
 * than the data would take what fits and write(2) would report the short
 * count without an error (IPA's dd fails there): refused up front, and every
 * write is checked to the last byte.
 */
export async function writeConfigDrive(part: string, data: Buffer, run: ProgramRunner = execute): Promise<void> {
  const isBlock = (await stat(part)).isBlockDevice();
  if (isBlock) {
    const size = await getDeviceSize(part, run);
    if (size < data.length)
      throw new DeploymentError(
        `Config drive is ${data.length} bytes but its partition ${part} holds only ${size} bytes; give the image a larger config-2 partition (or none: the agent then creates a 64 MiB one)`,
      );
  }
  const fh = await open(part, isBlock ? 'r+' : 'w');
  try {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, done);
      if (bytesWritten <= 0)
        throw new DeploymentError(`Writing the config drive to ${part} stopped at byte ${done} of ${data.length}: the device took no more`);
      done += bytesWritten;
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
