/**
 * Every flavor's spec section, by flavor name: the list of flavors the
 * spec knows. A flavor folder declares its section in <name>/spec.ts (a
 * light module: the schema is needed to validate any spec) and its build
 * in <name>/index.ts (loaded only when that flavor builds: registry.ts).
 */
import { CoreosSection } from './coreos/spec.js';
import { DibSection } from './dib/spec.js';
import { TinyipaSection } from './tinyipa/spec.js';

/**
 * Every section is declared, so every flavor's spec validates; a flavor
 * this version could not build would be listed in registry.ts NOT_YET.
 */
export const FLAVOR_SECTIONS = {
  tinyipa: TinyipaSection,
  dib: DibSection,
  coreos: CoreosSection,
} as const;

export type FlavorName = keyof typeof FLAVOR_SECTIONS;
export const FLAVORS = Object.keys(FLAVOR_SECTIONS) as FlavorName[];
