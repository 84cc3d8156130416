/**
 * Every flavor's spec section, by flavor name: the list of flavors the
 * spec knows. A flavor folder declares its section in <name>/spec.ts (a
 * light module: the schema is needed to validate any spec) and its build
 * in <name>/index.ts (loaded only when that flavor builds: registry.ts).
 */
import { Type } from '@sinclair/typebox';
import { TinyipaSection } from './tinyipa/spec.js';

/**
 * dib and coreos are known to the spec but not built yet (their issues are
 * open): their sections are reserved, so a spec may not put keys there yet.
 */
function reservedSection(name: string) {
  return Type.Object(
    {},
    { additionalProperties: false, description: `Reserved for the ${name} flavor, which this version of ramforge cannot build yet` },
  );
}

export const FLAVOR_SECTIONS = {
  tinyipa: TinyipaSection,
  dib: reservedSection('dib'),
  coreos: reservedSection('coreos'),
} as const;

export type FlavorName = keyof typeof FLAVOR_SECTIONS;
export const FLAVORS = Object.keys(FLAVOR_SECTIONS) as FlavorName[];
