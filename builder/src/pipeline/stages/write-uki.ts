import { basename } from 'node:path';
import type { Artifact } from '../context.js';
import { readPeInfo } from '../../outputs/pe.js';
import { makeUki } from '../../outputs/uki.js';
import type { SigningKey } from '../../outputs/secure-boot.js';

export interface WriteUkiArgs {
  kernel: string;
  initrd: string;
  out: string;
  /** The spec's cmdline: no boot_method=vmedia, a UKI is booted over UEFI HTTP or by a boot manager, not as virtual media. */
  cmdline: string;
  epoch: number;
  workDir: string;
  /** A site db key that signs the UKI. */
  signing?: SigningKey;
}

/**
 * `<name>.efi` beside the ISO: the unified kernel image of the build's
 * kernel and initramfs. A kernel without an EFI stub (not a PE file) cannot
 * make one: the build goes on without it and says so (`undefined`), as the
 * ISO still boots such a kernel through isolinux and GRUB.
 */
export async function writeUki(a: WriteUkiArgs, log: (line: string) => void): Promise<Artifact | undefined> {
  if (!(await readPeInfo(a.kernel))) {
    log(`no unified kernel image: the kernel has no EFI stub (not a PE file)`);
    return undefined;
  }
  const r = await makeUki({
    kernel: a.kernel,
    initrd: a.initrd,
    cmdline: a.cmdline,
    out: a.out,
    workDir: a.workDir,
    epoch: a.epoch,
    ...(a.signing ? { signing: a.signing } : {}),
  });
  return { kind: 'uki', file: basename(a.out), size: r.size };
}
