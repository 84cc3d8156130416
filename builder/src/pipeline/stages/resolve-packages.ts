import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { AptRepo, SCRIPT_ONLY_PACKAGES } from '../../debian/apt.js';
import { applySourceOverride, readHostSources } from '../../debian/sources.js';
import { flavorFor } from '../../flavors/registry.js';

/** apt with a private state dir against the host's mirror: resolve the closure and download it (cached). */
export async function resolvePackages(ctx: BuildContext): Promise<void> {
  const sources = applySourceOverride(await readHostSources(), ctx.spec.debian);
  const repo = new AptRepo({ cacheDir: join(ctx.cacheDir, 'apt'), sources });
  await repo.update();
  const flavor = flavorFor(ctx.spec.flavor);
  const wanted = [...flavor.packages(ctx.spec), ...ctx.spec.packages];
  // A package the user asked for by name is never dropped.
  const userWants = new Set(ctx.spec.packages.map((p) => p.split('=')[0]));
  const drop = new Set((flavor.dropPackages?.(ctx.spec) ?? []).filter((p) => !userWants.has(p)));
  // Assumed installed: apt neither downloads them nor follows their dependencies.
  const resolved = await repo.resolve([...new Set(wanted)], { assumeInstalled: [...new Set([...SCRIPT_ONLY_PACKAGES, ...drop])].filter((p) => !userWants.has(p)) });
  ctx.log(`${resolved.length} packages resolved`);
  ctx.packages = await repo.download(resolved);
  ctx.apt = repo;
}
