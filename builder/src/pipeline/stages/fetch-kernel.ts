import type { BuildContext } from '../context.js';
import { InternalError } from '../../errors.js';
import { fetchKernel as fetchKernelPackage } from '../../debian/kernel.js';

export async function fetchKernel(ctx: BuildContext): Promise<void> {
  if (!ctx.apt) throw new InternalError('fetchKernel before resolvePackages');
  const k = await fetchKernelPackage(ctx.apt, ctx.spec.kernel.package);
  ctx.kernel = { ...k, modules: { count: 0, bytes: 0 } };
  ctx.log(`kernel ${k.version} from ${k.package.name} ${k.package.version}`);
}
