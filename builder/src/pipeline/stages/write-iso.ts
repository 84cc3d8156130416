import { basename } from 'node:path';
import type { Artifact } from '../context.js';
import { makeIso } from '../../outputs/iso.js';
import type { SecureBootMode, SigningKey } from '../../outputs/secure-boot.js';

export interface WriteIsoArgs {
  kernel: string;
  initrd: string;
  out: string;
  /** The spec's cmdline and iso.append. */
  append: string;
  label: string;
  epoch: number;
  workDir: string;
  secureBoot: SecureBootMode;
  /** A site db key that signs the kernel beside Debian's signature. */
  signing?: SigningKey;
}

/** The ISO and the versions of the host boot loaders that went into it. */
export async function writeIso(a: WriteIsoArgs): Promise<{ artifact: Artifact; bootloaders: Record<string, string> }> {
  const r = await makeIso({
    kernel: a.kernel,
    initrd: a.initrd,
    out: a.out,
    append: a.append,
    label: a.label,
    epoch: a.epoch,
    workDir: a.workDir,
    secureBoot: a.secureBoot,
    ...(a.signing ? { signing: a.signing } : {}),
  });
  return { artifact: { kind: 'iso', file: basename(a.out), size: r.size }, bootloaders: r.bootloaders };
}
