/**
 * Schema validation that speaks to people: every issue names the spec path
 * (kernel.modules[1]) and says how to fix it; unknown keys and enum typos get
 * a "did you mean".
 */
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { SpecIssue } from '../errors.js';

/** "/kernel/modules/1" → "kernel.modules[1]". */
export function toSpecPath(pointer: string): string {
  let out = '';
  for (const seg of pointer.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(s) ? `[${s}]` : out ? `.${s}` : s;
  }
  return out;
}

export function validateAgainst(schema: TSchema, value: unknown, base = ''): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const pointer = base + e.path;
    // A union reports once at its own path; deeper errors of the same path are noise.
    if (seen.has(pointer)) continue;
    seen.add(pointer);
    issues.push(...describe(e, pointer));
  }
  return issues;
}

function describe(e: ValueError, pointer: string): SpecIssue[] {
  const path = toSpecPath(pointer);
  const s = e.schema as Record<string, any>;
  const key = pointer.split('/').pop() ?? '';
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys(s.properties ?? {}).filter((k) => k !== '$schema');
      const patterns = Object.keys(s.patternProperties ?? {});
      // A map with free keys (dib.environment): name the rule a key must follow.
      if (known.length === 0 && patterns.length > 0)
        return [{ path, message: `'${key}' is not a valid key here`, fix: `keys must match ${patterns.join(' or ')}` }];
      const near = closest(key, known);
      return [{ path, message: `unknown key '${key}'`, fix: near ? `did you mean '${near}'?` : `known keys here: ${known.join(', ')}` }];
    }
    case ValueErrorType.ObjectRequiredProperty:
      return [{ path, message: 'is required', fix: s.description ? `add it: ${s.description}` : 'add it' }];
    case ValueErrorType.Union: {
      const branches: Record<string, any>[] = s.anyOf ?? [];
      const consts = branches.filter((b) => 'const' in b).map((b) => String(b.const));
      if (consts.length === branches.length) {
        const near = typeof e.value === 'string' ? closest(e.value, consts) : undefined;
        return [
          {
            path,
            message: `${JSON.stringify(e.value)} is not one of ${consts.join(', ')}`,
            fix: near ? `did you mean '${near}'?` : `use one of: ${consts.join(', ')}`,
          },
        ];
      }
      // A union of shapes (e.g. iso: true | {label, append}): explain against the branch matching the value's type.
      const t = jsonType(e.value);
      const branch = branches.find((b) => b.type === t);
      if (branch) return validateAgainst(branch as TSchema, e.value, pointer);
      return [{ path, message: `has the wrong type (${t})`, fix: `expected ${branches.map((b) => b.type ?? 'value').join(' or ')}` }];
    }
    case ValueErrorType.String:
    case ValueErrorType.Number:
    case ValueErrorType.Integer:
    case ValueErrorType.Boolean:
    case ValueErrorType.Array:
    case ValueErrorType.Object:
      return [
        {
          path,
          message: `expected ${s.type === 'integer' || s.type === 'array' || s.type === 'object' ? 'an' : 'a'} ${s.type}, got ${jsonType(e.value)}`,
          fix: s.description ?? `write ${s.type === 'integer' || s.type === 'array' || s.type === 'object' ? 'an' : 'a'} ${s.type}`,
        },
      ];
    case ValueErrorType.StringPattern:
      return [
        {
          path,
          message: `${JSON.stringify(e.value)} is not valid`,
          fix: s.description ? `${s.description} (must match ${s.pattern})` : `must match ${s.pattern}`,
        },
      ];
    default:
      return [{ path, message: e.message.toLowerCase(), ...(s.description ? { fix: s.description } : {}) }];
  }
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Closest candidate by edit distance, if close enough to be a typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
