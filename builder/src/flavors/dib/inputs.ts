/**
 * What the element runner gets from the spec and the caller's environment,
 * merged as diskimage-builder users expect: the caller's exported
 * ELEMENTS_PATH and DIB_* variables are honoured, the spec's
 * `dib.elementsPath` / `dib.environment` (and the --element /
 * --elements-path flags, which set them) win.
 */
import { isAbsolute, resolve } from 'node:path';
import type { DibSpec } from './spec.js';

export interface DibRunInputs {
  /** The spec's element names (the flavor adds its own). */
  elements: string[];
  /** Search order, first wins: the spec's entries, then ELEMENTS_PATH's. */
  elementsPath: string[];
  /** The caller's DIB_* variables, overridden by the spec's dib.environment. */
  environment: Record<string, string>;
}

/** Variables of the caller's environment that reach the elements (DIB's convention for user overrides). */
export const CALLER_VARIABLE = /^DIB_[A-Za-z0-9_]*$/;

/**
 * Merge the spec's dib section with the caller's environment. Relative
 * ELEMENTS_PATH entries are taken from `cwd` (where the command runs), as
 * DIB does; empty entries are dropped; an entry the spec already lists is
 * not searched twice.
 */
export function mergeDibInputs(
  dib: Pick<DibSpec, 'elements' | 'elementsPath' | 'environment'>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): DibRunInputs {
  const fromEnv = (env.ELEMENTS_PATH ?? '')
    .split(':')
    .filter((p) => p !== '')
    .map((p) => (isAbsolute(p) ? p : resolve(cwd, p)));
  const elementsPath = [...new Set([...dib.elementsPath, ...fromEnv])];
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && CALLER_VARIABLE.test(k)) environment[k] = v;
  Object.assign(environment, dib.environment);
  return { elements: [...dib.elements], elementsPath, environment };
}
