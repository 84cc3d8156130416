/**
 * The agent's image work (standby.prepare_image, standby.get_partition_uuids,
 * image.install_bootloader): the entry points the command layer calls.
 */
import { tmpdir } from 'node:os';
import { DeploymentError } from '../errors.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';
import { configDriveHttpOptions, type DownloadOptions } from './download.js';
import { createConfigDrivePartition, fetchConfigDrive, installConfigDrive } from './configdrive.js';
import { getDiskIdentifier, rescanPartitions } from './disk-ids.js';
import { writePartitionImage } from './partition-image.js';
import type { ImageFormatPolicy } from './image-format.js';
import { writeWholeDiskImage, type WriteContext } from './write-whole-disk.js';
import { validateImageInfo } from './validate-image-info.js';

export { validateImageInfo } from './validate-image-info.js';
export { installBootloader } from './install-bootloader.js';

export interface PrepareOpts {
  device: string;
  md5Enabled: boolean;
  bootMode: 'uefi' | 'bios';
  downloadTimeoutS: number;
  retries: number;
  retryIntervalS: number;
  maxDurationS: number;
  run?: ProgramRunner;
  signal?: AbortSignal;
  /** TLS to the image server (agent config insecure/cafile). */
  insecure?: boolean;
  cafile?: string;
  /** HTTP Basic credentials from the agent config (image_server_*), used when image_info has no auth. */
  basicAuth?: { user: string; password: string };
  /** Where non-streamed images are cached (default the OS temp dir, /tmp in the ramdisk). */
  tmpDir?: string;
  /** Ironic's permitted_image_formats from the lookup (imageFormatPolicy). */
  imageFormats?: ImageFormatPolicy;
  /** IPA's config_drive_rebuild: the config drive always becomes vfat (installConfigDrive). */
  configDriveRebuild?: boolean;
  log?: Log;
}

let partitionUuids: Record<string, unknown> = {};

/** What the last prepare_image recorded, in standby.get_partition_uuids' shape (§5.1). */
export function getPartitionUuids(): Record<string, unknown> {
  return structuredClone(partitionUuids);
}

/** Download image_info's image onto o.device (plus config drive); returns IPA's result message. */
export async function prepareImage(imageInfo: Record<string, unknown>, configdrive: string | null, o: PrepareOpts): Promise<string> {
  validateImageInfo(imageInfo, o.md5Enabled);
  const run = o.run ?? execute;
  const dl: DownloadOptions = {
    md5Enabled: o.md5Enabled,
    downloadTimeoutS: o.downloadTimeoutS,
    retries: o.retries,
    retryIntervalS: o.retryIntervalS,
    maxDurationS: o.maxDurationS,
    insecure: o.insecure,
    cafile: o.cafile,
    basicAuth: o.basicAuth,
    signal: o.signal,
    log: o.log,
  };
  const c: WriteContext = {
    ...dl,
    run,
    tmpDir: o.tmpDir ?? tmpdir(),
    imageFormats: o.imageFormats,
    configDriveRebuild: o.configDriveRebuild,
  };
  const cd = configdrive ?? (typeof imageInfo.configdrive === 'string' ? imageInfo.configdrive : null);
  const cdData = cd ? await fetchConfigDrive(cd, configDriveHttpOptions(imageInfo, dl, cd)) : null;
  const id = String(imageInfo.id);
  partitionUuids = {};
  if (imageInfo.image_type === 'partition') {
    const bootMode =
      imageInfo.deploy_boot_mode === 'uefi' || imageInfo.deploy_boot_mode === 'bios' ? imageInfo.deploy_boot_mode : o.bootMode;
    partitionUuids = { ...(await writePartitionImage(imageInfo, o.device, bootMode, cdData, c)) };
  } else {
    await writeWholeDiskImage(imageInfo, o.device, c);
    await validatePartitioning(o.device, run);
    if (cdData) {
      const part = await createConfigDrivePartition(o.device, run);
      await installConfigDrive(part, cdData, { run, tmpDir: c.tmpDir, rebuild: o.configDriveRebuild, log: o.log });
      await rescanPartitions(o.device, run);
    }
    partitionUuids = { 'root uuid': await getDiskIdentifier(o.device) };
  }
  const root = partitionUuids['root uuid'];
  const efi = partitionUuids['efi system partition uuid'];
  return imageInfo.deploy_boot_mode === 'uefi' && efi
    ? `image (${id}) written to device ${o.device} root_uuid=${root} efi_system_partition_uuid=${efi}`
    : `image (${id}) written to device ${o.device} root_uuid=${root}`;
}

/**
 * IPA's _validate_partitioning: after the write the disk must carry a
 * partition table parted can read, with at least one partition; else the
 * image was junk (or made for another sector size) and nothing could boot
 * from it. Read with parted, as IPA's list_partitions: lsblk lists an md
 * array's partitions with TYPE md, not part.
 */
async function validatePartitioning(dev: string, run: ProgramRunner): Promise<void> {
  let table: string;
  try {
    table = (await run(['parted', '-s', '-m', dev, 'unit', 'MiB', 'print'])).stdout;
  } catch (e) {
    throw new DeploymentError(
      `Unable to find a valid partition table on ${dev} after writing the image; the image may be corrupted or use a different sector size than the device: ${(e as Error).message}`,
    );
  }
  if (!table.split('\n').some((l) => /^\d+:/.test(l)))
    throw new DeploymentError(
      `No partitions found on the device ${dev} after writing the image; a whole-disk image must hold a partition table`,
    );
}
