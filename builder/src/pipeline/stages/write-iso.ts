import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { artifactPath } from '../context.js';
import { makeIso } from '../../outputs/iso.js';

export async function writeIso(ctx: BuildContext): Promise<void> {
  const { spec } = ctx;
  const append = [spec.kernel.cmdline, spec.iso.append].filter(Boolean).join(' ');
  const r = await makeIso({
    kernel: artifactPath(ctx, 'kernel'),
    initrd: artifactPath(ctx, 'initramfs'),
    out: artifactPath(ctx, 'iso'),
    append,
    label: spec.iso.label,
    epoch: spec.sourceDateEpoch,
    workDir: join(ctx.workspace, 'iso'),
    secureBoot: spec.iso.secureBoot,
    ...(spec.iso.signing ? { signing: spec.iso.signing } : {}),
  });
  ctx.bootloaders = r.bootloaders;
  ctx.artifacts.push({ kind: 'iso', file: `${spec.name}.iso`, size: r.size });
}
