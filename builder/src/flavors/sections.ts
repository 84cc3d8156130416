/**
 * Every flavor's spec section, by flavor name: the list of flavors the
 * spec knows. A flavor folder declares its section in <name>/spec.ts (a
 * light module: the schema is needed to validate any spec) and its build
 * in <name>/index.ts (loaded only when that flavor builds: registry.ts).
 */
import { Type } from '@sinclair/typebox';
import { DibSection } from './dib/spec.js';
import { TinyipaSection } from './tinyipa/spec.js';

/**
 * coreos is known to the spec but not built yet (its issue is open): its
 * section is reserved, so a spec may not put keys there yet.
 */
function reservedSection(name: string) {
  return Type.Object(
    {},
    { additionalProperties: false, description: `Reserved for the ${name} flavor, which this version of ramforge cannot build yet` },
  );
}

export const FLAVOR_SECTIONS = {
  tinyipa: TinyipaSection,
  dib: DibSection,
  coreos: reservedSection('coreos'),
} as const;

export type FlavorName = keyof typeof FLAVOR_SECTIONS;
export const FLAVORS = Object.keys(FLAVOR_SECTIONS) as FlavorName[];
