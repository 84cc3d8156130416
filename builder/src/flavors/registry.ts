/** Flavors by name. dib and coreos register here when their issues land. */
import type { BuildContext } from '../pipeline/context.js';
import type { BuildSpec, Flavor as FlavorName } from '../spec/normalize.js';
import type { Tree } from '../tree/tree.js';
import { InternalError } from '../errors.js';
import { tinyipa } from './tinyipa/index.js';

export interface Flavor {
  readonly name: FlavorName;
  /** Debian packages the flavor needs (the spec's `packages` come on top). */
  packages(spec: BuildSpec): string[];
  /**
   * Packages dependency resolution pulls in that the flavor does not ship
   * (they only serve maintainer scripts, which never run here). The flavor's
   * library check proves the programs it needs still run without them.
   */
  dropPackages?(spec: BuildSpec): string[];
  /** Fill the tree with the flavor's base system, kernel modules, runtime and agent. */
  assemble(ctx: BuildContext, tree: Tree): Promise<void>;
}

const FLAVORS: Partial<Record<FlavorName, Flavor>> = { tinyipa };

export function flavorFor(name: FlavorName): Flavor {
  const f = FLAVORS[name];
  // The spec rules refuse unavailable flavors first; reaching here is a bug.
  if (!f) throw new InternalError(`flavor '${name}' is not registered`);
  return f;
}
