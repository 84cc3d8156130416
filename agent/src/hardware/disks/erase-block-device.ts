/** IPA's erase_block_device: firmware erase when possible, shred otherwise. */
import { BlockDeviceEraseError } from '../../errors.js';
import type { ProgramRunner } from '../../util/exec.js';
import type { Node } from '../types.js';
import { isNvme } from './disk-facts.js';
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
  };
}

/** shred argv: overwrite N passes, then (zeroize) one pass of zeros. */
export function shredArgv(dev: string, s: Pick<EraseSettings, 'iterations' | 'zeroize'>): string[] {
  // Short options only: busybox's shred (tinyipa) knows -f -z -n but no long options or -v;
  // coreutils' shred accepts the same short forms.
  return ['shred', '-f', ...(s.zeroize ? ['-z'] : []), '-n', String(s.iterations), dev];
}

/** Erase one device; returns the method used. */
export async function eraseBlockDevice(dev: string, s: EraseSettings, run: ProgramRunner): Promise<string> {
  try {
    if (s.enableNvmeSecureErase && isNvme(dev)) {
      const m = await eraseNvme(dev, run);
      if (m) return m;
    } else if (s.enableAtaSecureErase && !isNvme(dev)) {
      const m = await eraseAta(dev, run);
      if (m) return m;
    }
  } catch (e) {
    if (!s.continueIfSecureEraseFailed) throw e;
    // Operator asked for shred when the firmware erase fails.
  }
  if (s.iterations === 0 && !s.zeroize) return 'none (agent_erase_devices_iterations=0 and zeroize disabled)';
  try {
    await run(shredArgv(dev, s));
  } catch (e) {
    throw new BlockDeviceEraseError(`shred of ${dev} failed: ${(e as Error).message}`);
  }
  return 'shred';
}
