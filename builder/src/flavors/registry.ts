/**
 * Flavors by name, loaded only when one builds: a flavor is the folder
 * flavors/<name>/ whose index.ts exports `flavor` (contract.ts), so a
 * tinyipa build never loads another flavor's code (a Docker client, ...).
 * Adding one: the folder, and its spec section in sections.ts (and out of NOT_YET).
 */
import type { Flavor } from './contract.js';
import type { FlavorName } from './sections.js';
import { InternalError } from '../errors.js';

/** Flavors the spec knows but this version cannot build yet (their issues are open); the spec rules refuse them. */
export const NOT_YET: Partial<Record<FlavorName, string>> = {};

export async function loadFlavor(name: FlavorName): Promise<Flavor<any>> {
  // The spec rules refuse unavailable flavors first; reaching here is a bug.
  if (NOT_YET[name]) throw new InternalError(`flavor '${name}' is not available`);
  const mod = (await import(`./${name}/index.js`)) as { flavor?: Flavor<any> };
  if (!mod.flavor || mod.flavor.name !== name) throw new InternalError(`flavors/${name}/index.ts does not export its flavor`);
  return mod.flavor;
}
