/**
 * Firmware erase paths of IPA's erase_block_device: NVMe format (crypto or
 * user data, from `nvme id-ctrl`) and ATA security erase (from `hdparm -I`).
 * Each returns the method used, or null when the device does not support it
 * (so the caller falls back to the overwrite); a supported erase that fails throws.
 */
import { BlockDeviceEraseError } from '../../errors.js';
import { isProgramMissing, type ProgramRunner } from '../../util/exec.js';
import type { Log } from '../../util/log.js';

export interface NvmeCaps {
  formatSupported: boolean;
  cryptoErase: boolean;
}

/** OACS bit 1 = Format NVM supported; FNA bit 2 = cryptographic erase supported. */
export function parseNvmeIdCtrl(json: string): NvmeCaps {
  const c = JSON.parse(json) as { oacs?: number; fna?: number };
  return { formatSupported: ((c.oacs ?? 0) & 0b10) !== 0, cryptoErase: ((c.fna ?? 0) & 0b100) !== 0 };
}

/**
 * `nvme format -s 2` (crypto) when supported, else `-s 1` (user data). A
 * controller without Format NVM is a failure, as in IPA's _nvme_erase: an
 * overwrite does not reach a flash drive's spare blocks, so it is used only
 * where the operator allows it (agent_continue_if_secure_erase_failed).
 */
export async function eraseNvme(dev: string, run: ProgramRunner): Promise<string> {
  let caps: NvmeCaps;
  try {
    caps = parseNvmeIdCtrl((await run(['nvme', 'id-ctrl', dev, '-o', 'json'])).stdout);
  } catch (e) {
    throw new BlockDeviceEraseError(`Failed to read the NVMe controller capabilities of ${dev}: ${(e as Error).message}`);
  }
  if (!caps.formatSupported) {
    throw new BlockDeviceEraseError(
      `NVMe device ${dev} does not support Format NVM (nvme id-ctrl: OACS bit 1 clear), so it cannot be secure-erased; ` +
        'set agent_continue_if_secure_erase_failed (Ironic: [deploy]continue_if_disk_secure_erase_fails) to overwrite it instead, ' +
        'or agent_enable_nvme_secure_erase=false ([deploy]enable_nvme_secure_erase) to overwrite NVMe disks without trying',
    );
  }
  const mode = caps.cryptoErase ? 2 : 1;
  try {
    await run(['nvme', 'format', dev, '-s', String(mode), '-f']);
  } catch (e) {
    throw new BlockDeviceEraseError(`NVMe secure erase (nvme format -s ${mode}) of ${dev} failed: ${(e as Error).message}`);
  }
  return mode === 2 ? 'nvme_crypto_erase' : 'nvme_user_data_erase';
}

/**
 * The "Security:" block of `hdparm -I`, one normalized line each
 * ("supported", "not enabled", "not frozen", "supported: enhanced erase").
 */
export function parseAtaSecurity(hdparmI: string): string[] {
  const lines = hdparmI.split('\n');
  const start = lines.findIndex((l) => /^Security:/.test(l));
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() === '') continue;
    if (!/^\s/.test(l)) break; // next top-level section
    out.push(l.trim().replace(/\s+/g, ' '));
  }
  return out;
}

/**
 * After a failed erase the drive may be left with the NULL user password set
 * (locked at the next power-on, refusing the overwrite fallback): unlock and
 * disable it, as IPA's __attempt_unlock_drive does there. Errors are only logged;
 * the caller throws the erase's own error.
 */
async function releaseNullPassword(dev: string, run: ProgramRunner, log?: Log): Promise<void> {
  for (const op of ['--security-unlock', '--security-disable']) {
    try {
      await run(['hdparm', '--user-master', 'u', op, 'NULL', dev]);
    } catch (e) {
      log?.warn(`erase ${dev}: hdparm ${op} NULL after the failed secure erase: ${(e as Error).message}`);
    }
  }
}

/**
 * IPA's _smartctl_security_check: ATA security commands sent to a drive
 * behind a USB or RAID-controller bridge can leave it unreachable, so they
 * are sent only when `smartctl -d ata` (the plain ATA driver, which a bridge
 * does not answer) reads the drive's security state. smartctl absent from
 * the ramdisk (tinyipa, as IPA's tinyipa): allowed, as IPA allows it.
 */
export async function ataCommandsReachDrive(dev: string, run: ProgramRunner, log?: Log): Promise<boolean> {
  try {
    const out = (await run(['smartctl', '-d', 'ata', dev, '-g', 'security'])).stdout;
    if (out.includes('Unavailable')) {
      log?.info(`erase ${dev}: smartctl -d ata reports its ATA security as unavailable: no ATA secure erase`);
      return false;
    }
    return true;
  } catch (e) {
    if (isProgramMissing(e)) {
      log?.warn(`erase ${dev}: smartctl is not in this ramdisk: ATA security commands go to the drive unchecked (as IPA without it)`);
      return true;
    }
    log?.warn(
      `erase ${dev}: refusing ATA secure erase: smartctl -d ata cannot query the drive directly (behind a bridge?): ${(e as Error).message}`,
    );
    return false;
  }
}

/** ATA security erase with the NULL password, IPA's _ata_erase. */
export async function eraseAta(dev: string, run: ProgramRunner, log?: Log): Promise<string | null> {
  const readSecurity = async (): Promise<string[]> => parseAtaSecurity((await run(['hdparm', '-I', dev])).stdout);
  let sec: string[];
  try {
    sec = await readSecurity();
  } catch {
    return null;
  } // not an ATA device
  if (!sec.includes('supported')) return null;
  if (!(await ataCommandsReachDrive(dev, run, log))) return null;
  if (sec.includes('enabled')) {
    // A previous failed erase leaves the NULL password set: unlock and clear it.
    try {
      await run(['hdparm', '--user-master', 'u', '--security-unlock', 'NULL', dev]);
      await run(['hdparm', '--user-master', 'u', '--security-disable', 'NULL', dev]);
    } catch (e) {
      throw new BlockDeviceEraseError(
        `Block device ${dev} has ATA security enabled with an unknown password and could not be unlocked: ${(e as Error).message}`,
      );
    }
    sec = await readSecurity();
  }
  if (!sec.includes('not frozen')) {
    throw new BlockDeviceEraseError(
      `Block device ${dev} is frozen and cannot be secure-erased; power-cycle the machine (a suspend/resume often unfreezes the drive) or set agent_continue_if_secure_erase_failed to fall back to overwriting`,
    );
  }
  const enhanced = sec.includes('supported: enhanced erase');
  const flag = enhanced ? '--security-erase-enhanced' : '--security-erase';
  // From here on a failure may leave the NULL password set: release it before reporting the failure.
  let failure: string | null = null;
  try {
    await run(['hdparm', '--user-master', 'u', '--security-set-pass', 'NULL', dev]);
    await run(['hdparm', '--user-master', 'u', flag, 'NULL', dev]);
  } catch (e) {
    failure = `ATA secure erase (${flag}) of ${dev} failed: ${(e as Error).message}`;
  }
  if (failure === null) {
    const after = await readSecurity().catch((e: Error) => e);
    if (after instanceof Error) failure = `ATA secure erase of ${dev}: the security state could not be read afterwards: ${after.message}`;
    else if (!after.includes('not enabled')) {
      failure = `ATA secure erase of ${dev} finished but security is still enabled; the drive may not have erased`;
    }
  }
  if (failure !== null) {
    await releaseNullPassword(dev, run, log);
    throw new BlockDeviceEraseError(failure);
  }
  return enhanced ? 'ata_enhanced_secure_erase' : 'ata_secure_erase';
}
