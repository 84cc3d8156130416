/**
 * Element YAML read the way DIB reads it: PyYAML's `yaml.safe_load`, which
 * is YAML 1.1 — a repeated key keeps its last value, `<<:` merge keys are
 * expanded (explicit keys win over merged ones), `yes`/`no`/`on`/`off` are
 * booleans, `010` is octal. One difference from the yaml package's own 1.1
 * schema: PyYAML does not take `y`/`n` (any case) as booleans, so neither
 * does this.
 */
import YAML from 'yaml';

type Tag = { tag: string; test?: RegExp };

const PYYAML_TRUE = /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/;
const PYYAML_FALSE = /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;

/** The 1.1 tags with PyYAML's boolean words. */
function pyyamlTags<T extends Tag>(tags: T[]): T[] {
  return tags.map((t) => {
    if (t.tag !== 'tag:yaml.org,2002:bool' || !t.test) return t;
    return { ...t, test: t.test.test('true') ? PYYAML_TRUE : PYYAML_FALSE };
  });
}

/** Parse element YAML as DIB's `yaml.safe_load` does. Throws the yaml package's error on bad syntax. */
export function parseDibYaml(text: string): unknown {
  return YAML.parse(text, {
    version: '1.1',
    uniqueKeys: false,
    merge: true,
    customTags: (tags) => pyyamlTags(tags as Tag[]) as typeof tags,
  });
}
