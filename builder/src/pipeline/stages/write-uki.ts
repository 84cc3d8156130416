import { basename } from 'node:path';
import type { Artifact } from '../context.js';
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

/** `<name>.efi` beside the ISO: the unified kernel image of the build's kernel and initramfs. */
export async function writeUki(a: WriteUkiArgs): Promise<Artifact> {
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
