import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { AptRepo } from '../../debian/apt.js';
import { readHostSources } from '../../debian/sources.js';
import { flavorFor } from '../../flavors/registry.js';

/** apt with a private state dir against the host's mirror: resolve the closure and download it (cached). */
export async function resolvePackages(ctx: BuildContext): Promise<void> {
  const sources = await readHostSources({ override: ctx.spec.debian });
  const repo = new AptRepo({ cacheDir: join(ctx.cacheDir, 'apt'), sources });
  await repo.update();
  const wanted = [...flavorFor(ctx.spec.flavor).packages(ctx.spec), ...ctx.spec.packages];
  const resolved = await repo.resolve([...new Set(wanted)]);
  ctx.log(`${resolved.length} packages resolved`);
  ctx.packages = await repo.download(resolved);
  ctx.apt = repo;
}
