/**
 * Config drives (§10.4 step 6): fetch/decode the content and give it a
 * partition — the existing config-2 one, or a new 64 MiB one at the end —
 * then make sure it can be mounted there (an ISO9660 image cannot on a disk
 * with 4096-byte logical sectors: it is rebuilt as vfat).
 */
import { cp, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DeploymentError, InvalidCommandParamsError } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { withMount } from './grub-chroot.js';
import { listPartitions } from '../hardware/disks/disk-facts.js';
import { getDeviceSize } from '../hardware/disks/disk-facts.js';
import { hasGpt, PARTITION_WAIT_MS, rescanPartitions, waitForBlockDevice } from './disk-ids.js';
import { httpGetBuffer, type HttpOptions } from '../util/http.js';

export const MAX_CONFIGDRIVE_BYTES = 64 << 20;
const TWO_TIB = 2 ** 41;

/**
 * URL or base64(gzip(image)) string → the image's bytes, as IPA's
 * get_configdrive decodes it: what a URL answers may be the image itself
 * (not base64), an inline string must be base64; gzip is undone where the
 * bytes are gzip. Then, beyond IPA, the bytes must be what cloud-init's
 * ConfigDrive source can read, an ISO 9660 or a FAT filesystem: anything
 * else would be written and reported as a deploy with a config drive that
 * the instance cannot read (IPA writes it).
 */
export async function fetchConfigDrive(configdrive: string, http: HttpOptions = {}): Promise<Buffer> {
  const isUrl = /^https?:\/\//i.test(configdrive);
  let data: Buffer = isUrl ? await httpGetBuffer(configdrive, http, MAX_CONFIGDRIVE_BYTES * 2) : Buffer.from(configdrive, 'latin1');
  const from = isUrl ? ` (downloaded from ${configdrive})` : '';
  const text = data.toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) data = Buffer.from(text, 'base64');
  else if (!isUrl)
    throw new DeploymentError(
      'Config drive is not base64 encoded or the content is malformed: configdrive must be a URL or base64(gzip(ISO 9660 or vfat image))',
    );
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = gunzipSync(data, { maxOutputLength: MAX_CONFIGDRIVE_BYTES + 1 });
    } catch (e) {
      throw new InvalidCommandParamsError(
        `Config drive could not be decompressed${from}: ${(e as Error).message}; it must be gzip+base64 (or larger than 64 MiB)`,
      );
    }
  }
  if (data.length > MAX_CONFIGDRIVE_BYTES) {
    throw new InvalidCommandParamsError(`Config drive is ${data.length} bytes, larger than the 64 MiB limit; shrink the user data`);
  }
  if (!configDriveFilesystem(data)) {
    throw new DeploymentError(
      `Config drive${from} is neither an ISO 9660 nor a FAT filesystem image (${data.length} bytes, starting ${data.subarray(0, 8).toString('hex') || 'with nothing'}): the instance could not read it; Ironic sends base64(gzip(ISO 9660))`,
    );
  }
  return data;
}

/** What a config drive image is, from its magic: ISO 9660 ("CD001" in the first volume descriptor) or FAT (its boot sector). */
export function configDriveFilesystem(data: Buffer): 'iso9660' | 'vfat' | null {
  if (data.length >= 0x8006 && data.toString('latin1', 0x8001, 0x8006) === 'CD001') return 'iso9660';
  if (data.length >= 512 && data[510] === 0x55 && data[511] === 0xaa) {
    const fat16 = data.toString('latin1', 54, 59);
    const fat32 = data.toString('latin1', 82, 87);
    if (fat16 === 'FAT12' || fat16 === 'FAT16' || fat32 === 'FAT32') return 'vfat';
  }
  return null;
}

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

export interface InstallConfigDriveOptions {
  run: ProgramRunner;
  /** Where the ISO is put to be loop-mounted when it is rebuilt (the ramdisk's /tmp). */
  tmpDir: string;
  /** IPA's config_drive_rebuild: always rebuild as vfat, even where the ISO would mount. */
  rebuild?: boolean;
  log?: Log;
}

/** What installConfigDrive left on the partition. */
export type ConfigDriveOutcome = 'as-given' | 'rebuilt-vfat' | 'unreadable';

/**
 * Write the config drive to its partition and check that it can be mounted
 * there, as IPA does since 2023.2 (_does_config_drive_work): the kernel's
 * ISO9660 driver refuses devices whose logical blocks are larger than its
 * 2048-byte ones, so on a 4Kn disk the instance could not read the ISO
 * Ironic builds. When the mount fails (or `rebuild` asks for it always), its
 * files are copied into a new vfat filesystem labelled CONFIG-2 on the same
 * partition (IPA's _try_build_fat32_config_drive); cloud-init and glean look
 * for that label as for config-2. Unlike IPA, this also applies to the
 * config drive partition of partition images (IPA dd's that one and stops;
 * the layout gives it room for vfat's clusters: configDriveMb), and the
 * start of the partition is zeroed before mkfs so that no ISO9660
 * descriptor is left beside the vfat one (blkid reports an ambivalent probe,
 * and finds no label, when both are there).
 *
 * Content that is no filesystem at all (blkid finds no type in it) is left
 * as written, with a warning, as in IPA. Anything else that stops the
 * rebuild (no room in /tmp for the ISO, a ramdisk that cannot loop-mount
 * it, mkfs, the copy) is a DeploymentError: the instance could not read
 * its config drive.
 */
export async function installConfigDrive(part: string, data: Buffer, o: InstallConfigDriveOptions): Promise<ConfigDriveOutcome> {
  if (o.rebuild) {
    // As IPA in this mode: no dd first (the vfat may fit where the ISO does not).
    o.log?.info(`Rebuilding the config drive on ${part} as a vfat filesystem labelled CONFIG-2 (config_drive_rebuild)`);
    const outcome = await rebuildAsVfat(part, data, o);
    if (outcome === 'unreadable') await writeConfigDrive(part, data, o.run);
    return outcome;
  }
  await writeConfigDrive(part, data, o.run);
  const why = await mountError(part, o);
  if (why === null) return 'as-given';
  // On sectors ISO9660 can use, the instance reads what the ramdisk could not (a ramdisk without isofs, a
  // drive that is no ISO): left as written, as before the check. Only larger sectors need the rebuild.
  const sector = await logicalSectorSize(part, o.run);
  if (sector <= ISO9660_MAX_SECTOR) {
    o.log?.warn(
      `The config drive on ${part} cannot be mounted by the ramdisk (${why}); left as written (${sector}-byte sectors suit ISO9660)`,
    );
    return 'as-given';
  }
  o.log?.warn(
    `The config drive on ${part} cannot be mounted there (${why}; ${sector}-byte sectors); rebuilding it as a vfat filesystem labelled CONFIG-2`,
  );
  return rebuildAsVfat(part, data, o);
}

/** null when `part` mounts read-only (type probed by mount), else why not. A failed umount after that is only logged. */
async function mountError(part: string, o: InstallConfigDriveOptions): Promise<string | null> {
  try {
    await withMount(
      part,
      o.run,
      async () => undefined,
      ['-o', 'ro', '-t', 'auto'],
      'rf-configdrive-check-',
      (e) => o.log?.warn(`The config drive on ${part} mounted, but did not unmount: ${(e as Error).message}`),
    );
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * MiB to reserve for a config drive in a partition layout: the data's size,
 * as IPA; where it will be rebuilt as vfat (a disk whose logical sectors are
 * larger than ISO9660's 2048 bytes, or `rebuild`), twice that and 1 MiB more:
 * every file and directory takes at least one 4 KiB cluster there, against
 * 2 KiB blocks in the ISO.
 */
export function configDriveMb(data: Buffer, vfat: boolean): number {
  const mb = Math.max(1, Math.ceil(data.length / (1 << 20)));
  return vfat ? 2 * mb + 1 : mb;
}

/** The device's logical sector size (BLKSSZGET); 512 when it cannot be read. */
export async function logicalSectorSize(dev: string, run: ProgramRunner): Promise<number> {
  const { stdout } = await run(['blockdev', '--getss', dev]).catch(() => ({ stdout: '' }));
  const n = Number.parseInt(stdout.trim(), 10);
  return Number.isInteger(n) && n > 0 ? n : 512;
}

/** The largest logical sector ISO9660 can be mounted on. */
export const ISO9660_MAX_SECTOR = 2048;

/** Zeroed before mkfs: past ISO9660's volume descriptors (from 32 KiB) and anything else a probe looks for near the start. */
const WIPE_BYTES = 1 << 20;
/** vfat clusters of 4 KiB whatever the sector size (mkfs.fat picks 16 KiB on a small 4Kn partition, where the files of a config drive sized for its ISO do not fit). */
const CLUSTER_BYTES = 4096;

async function rebuildAsVfat(part: string, data: Buffer, o: InstallConfigDriveOptions): Promise<ConfigDriveOutcome> {
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(o.tmpDir, 'rf-configdrive-'));
    await writeFile(join(dir, 'configdrive.iso'), data);
  } catch (e) {
    if (dir) await rm(dir, { recursive: true, force: true });
    throw new DeploymentError(`Could not put the config drive in ${o.tmpDir} to rebuild it as vfat on ${part}: ${(e as Error).message}`);
  }
  const iso = join(dir, 'configdrive.iso');
  try {
    // A modular loop driver makes /dev/loop-control only once loaded (tinyipa has no udev or kmod static nodes).
    await o.run(['modprobe', 'loop'], { timeoutMs: 30_000 }).catch(() => undefined);
    let examined = false;
    try {
      await withMount(
        iso,
        o.run,
        async (src) => {
          examined = true;
          await wipeStart(part, o.run);
          const perCluster = Math.max(1, CLUSTER_BYTES / (await logicalSectorSize(part, o.run)));
          await o.run(['mkfs.vfat', '-s', String(perCluster), '-n', 'CONFIG-2', part]);
          // dereference: vfat has no symlinks (IPA's copytree copies their targets too).
          await withMount(
            part,
            o.run,
            (dst) => cp(src, dst, { recursive: true, dereference: true }),
            ['-t', 'vfat'],
            'rf-configdrive-new-',
          );
        },
        ['-o', 'loop,ro', '-t', 'auto'],
        'rf-configdrive-iso-',
      );
      return 'rebuilt-vfat';
    } catch (e) {
      const why = (e as Error).message;
      if (examined) {
        throw new DeploymentError(
          `Rebuilding the config drive on ${part} as vfat failed: ${why}. The partition now holds no usable config drive; check the partition (size, sector size) and the config drive's content`,
        );
      }
      const type = (
        await o.run(['blkid', '-p', '-o', 'value', '-s', 'TYPE', iso], { okCodes: [0, 2] }).catch(() => ({ stdout: '' }))
      ).stdout.trim();
      if (type) {
        throw new DeploymentError(
          `The config drive (${type}) cannot be mounted on ${part}, and the ramdisk could not mount it from a file to rebuild it as vfat either: ${why}; the ramdisk needs loop devices and ${type} support`,
        );
      }
      o.log?.warn(`The config drive holds no filesystem the agent knows (${why}); it stays on ${part} as written`);
      return 'unreadable';
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function wipeStart(part: string, run: ProgramRunner): Promise<void> {
  const fh = await open(part, 'r+');
  try {
    const st = await fh.stat();
    const n = Math.min(WIPE_BYTES, st.isBlockDevice() ? await getDeviceSize(part, run) : st.size);
    await fh.write(Buffer.alloc(n), 0, n, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
