/**
 * The JSON Schema (TypeBox) of the agent's config file, built from
 * CONFIG_OPTIONS: for editors and for the builder, which can embed it for
 * the spec's agent.config. Each option is accepted in its camelCase and its
 * IPA snake_case spelling, in the forms the loader takes (a boolean or
 * "yes"; a list or one comma-separated string). The authoritative check is
 * the loader's own (readConfigObject, `--check-config`); this schema agrees
 * with it on the usual forms (config-schema.test.ts) but cannot express
 * every lenient one (e.g. "1e3" as a number). Never imported at agent start:
 * TypeBox stays out of the agent's idle memory.
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { CONFIG_OPTIONS, type OptionKind, type OptionSpec } from './config.js';
import { KIND_EXPECTED } from './config-load.js';

/** "yes" → "[Yy][Ee][Ss]": JSON Schema patterns have no case-insensitive flag. */
const anyCase = (word: string): string => [...word].map((c) => (/[a-z]/.test(c) ? `[${c.toUpperCase()}${c}]` : c)).join('');
const BOOL_WORDS = ['1', '0', 't', 'f', 'y', 'n', 'true', 'false', 'on', 'off', 'yes', 'no'];

/** The schema of one value of `kind`. */
export function schemaOfKind(kind: OptionKind): TSchema {
  switch (kind) {
    case 'string':
      return Type.String();
    case 'text':
      return Type.String({ minLength: 1 });
    case 'bool':
      return Type.Union([Type.Boolean(), Type.String({ pattern: `^\\s*(${BOOL_WORDS.map(anyCase).join('|')})\\s*$` })]);
    case 'int':
      return Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\s*\\d+\\s*$' })]);
    case 'number':
      return Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: '^\\s*\\d+(\\.\\d*)?\\s*$' })]);
    case 'port':
      return Type.Union([
        Type.Integer({ minimum: 0, maximum: 65535 }),
        Type.String({ pattern: '^\\s*(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|\\d{1,4})\\s*$' }),
      ]);
    case 'list':
      return Type.Union([Type.Array(Type.String()), Type.String()]);
    case 'urls':
      return Type.Union([
        Type.Array(Type.String({ pattern: '^\\s*(mdns|https?://.+)?\\s*$' })),
        Type.String({ pattern: '^\\s*((mdns|https?://[^,]+)?\\s*)(,\\s*(mdns|https?://[^,]+)?\\s*)*$' }),
      ]);
    case 'protocol':
      return Type.Union([Type.Literal('http'), Type.Literal('https')]);
    case 'apiVersion':
      return Type.String({ pattern: '^1\\.\\d+$' });
    case 'tlsVersion':
      return Type.Union([Type.Literal('1.2'), Type.Literal('1.3')]);
  }
}

const toSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The config file: an object of options (camelCase or snake_case), nothing else. */
export function buildConfigFileSchema(): TObject {
  const properties: Record<string, TSchema> = {};
  for (const [key, spec] of Object.entries(CONFIG_OPTIONS) as Array<[string, OptionSpec]>) {
    const description = [spec.doc, spec.param ? `kernel parameter ${spec.param}` : undefined, `expected: ${KIND_EXPECTED[spec.kind]}`]
      .filter(Boolean)
      .join('; ');
    properties[key] = Type.Optional({ ...schemaOfKind(spec.kind), description } as TSchema);
    const snake = toSnake(key);
    if (snake !== key) properties[snake] = Type.Optional({ ...schemaOfKind(spec.kind), description: `= ${key}` } as TSchema);
  }
  return Type.Object(properties, {
    $id: 'https://ramforge.invalid/agent-config.schema.json',
    title: 'ramforge agent config (/etc/ironic-python-agent/ramforge.json)',
    additionalProperties: false,
  });
}
