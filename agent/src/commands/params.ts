/**
 * Parameter checks shared by the extensions. IPA passes params as keyword
 * arguments, so a missing or mistyped one is a TypeError there; we answer
 * 400 InvalidCommandParamsError with the parameter named instead.
 */
import { InvalidCommandParamsError } from '../errors.js';
import type { Params } from './types.js';

export type ParamKind = 'object' | 'array' | 'string' | 'boolean' | 'any';

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * `spec` maps a parameter to its kind; a trailing '?' on the kind makes it
 * optional (null counts as absent then). Extra parameters are accepted, as
 * IPA's step commands take **kwargs.
 */
export function checkParams(cmd: string, params: Params, spec: Record<string, `${ParamKind}` | `${ParamKind}?`>): void {
  for (const [key, want] of Object.entries(spec)) {
    const optional = want.endsWith('?');
    const kind = want.replace('?', '') as ParamKind;
    const value = params[key];
    if (value === undefined || (optional && value === null)) {
      if (optional) continue;
      throw new InvalidCommandParamsError(`${cmd}: missing parameter "${key}" (expected ${kind})`);
    }
    if (kind !== 'any' && kindOf(value) !== kind) {
      throw new InvalidCommandParamsError(
        `${cmd}: parameter "${key}" must be ${kind === 'array' ? 'a list' : `a${kind === 'object' ? 'n' : ''} ${kind}`}, got ${kindOf(value)}`,
      );
    }
  }
}

/** The value as a plain object, or {} (for optional dict params such as node). */
export function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
