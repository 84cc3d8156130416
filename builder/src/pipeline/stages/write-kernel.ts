import { copyFile, stat } from 'node:fs/promises';
import type { BuildContext } from '../context.js';
import { artifactPath } from '../context.js';
import { InternalError } from '../../errors.js';

export async function writeKernel(ctx: BuildContext): Promise<void> {
  if (!ctx.kernel) throw new InternalError('writeKernel before fetchKernel');
  const out = artifactPath(ctx, 'kernel');
  await copyFile(ctx.kernel.vmlinuz, out);
  ctx.artifacts.push({ kind: 'kernel', file: `${ctx.spec.name}.kernel`, size: (await stat(out)).size });
}
