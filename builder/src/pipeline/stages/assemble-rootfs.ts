import { join } from 'node:path';
import { Tree } from '../../tree/tree.js';
import type { Assembly, Flavor, StageEnv } from '../../flavors/contract.js';
import { applySpecLayers } from './apply-spec-layers.js';

export interface AssembledRootfs {
  assembly: Assembly;
  tree: Tree;
  /** Unpacked size of the tree, for the manifest and the benchmark. */
  stats: { files: number; dirs: number; bytes: number };
}

/** The flavor fills the build tree and names its members; the spec's own layers go on top. */
export async function assembleRootfs<I>(flavor: Flavor<I>, inputs: I, env: StageEnv): Promise<AssembledRootfs> {
  const tree = new Tree({ storeDir: join(env.workspace, 'tree') });
  const assembly = await flavor.assemble(inputs, { ...env, tree });
  await applySpecLayers(env.spec, tree);
  const stats = tree.stats();
  env.log(`rootfs: ${stats.files} files, ${(stats.bytes / 1048576).toFixed(1)} MiB`);
  return { assembly, tree, stats };
}
