import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { artifactPath } from '../context.js';
import { makeUki } from '../../outputs/uki.js';

/**
 * `<name>.efi` beside the ISO: the unified kernel image of the build's
 * kernel and initramfs with kernel.cmdline (no boot_method=vmedia: it is
 * booted over UEFI HTTP or by a boot manager, not as virtual media), signed
 * with iso.signing when given.
 */
export async function writeUki(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  const r = await makeUki({
    kernel: artifactPath(ctx, 'kernel'),
    initrd: artifactPath(ctx, 'initramfs'),
    cmdline: spec.kernel.cmdline,
    out: join(ctx.staging, `${spec.name}.efi`),
    workDir: join(ctx.workspace, 'uki'),
    epoch: spec.sourceDateEpoch,
    ...(spec.iso.signing ? { signing: spec.iso.signing } : {}),
  });
  ctx.artifacts.push({ kind: 'uki', file: `${spec.name}.efi`, size: r.size });
}
