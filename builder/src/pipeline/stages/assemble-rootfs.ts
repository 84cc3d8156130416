import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { Tree } from '../../tree/tree.js';
import { flavorFor } from '../../flavors/registry.js';
import { applySpecLayers } from './apply-spec-layers.js';

/** Build the one tree every output is packed from: the flavor's base, then the spec's own layers. */
export async function assembleRootfs(ctx: BuildContext): Promise<void> {
  const tree = new Tree({ storeDir: join(ctx.workspace, 'tree') });
  ctx.tree = tree;
  await flavorFor(ctx.spec.flavor).assemble(ctx, tree);
  await applySpecLayers(ctx, tree);
  ctx.treeStats = tree.stats();
  ctx.log(`rootfs: ${ctx.treeStats.files} files, ${(ctx.treeStats.bytes / 1048576).toFixed(1)} MiB`);
}
