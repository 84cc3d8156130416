import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SpecError } from '../../errors.js';
import { validateSpec } from '../../spec/load.js';
import { normalizeSpec } from '../../spec/normalize.js';
import type { WrittenSpec } from '../../spec/schema.js';
import { tempDir } from './elements/test-trees.js';

function issues(raw: unknown, cwd = '/tmp') {
  try {
    validateSpec(raw, { cwd, env: {} });
  } catch (e) {
    if (e instanceof SpecError) return e.issues;
    throw e;
  }
  return [];
}

test('dib: the section validates and fills its defaults; relative elementsPath entries are taken from the spec directory', () => {
  const spec = normalizeSpec({ flavor: 'dib', dib: { elementsPath: ['elements', '/abs/elements'] } } as WrittenSpec, {
    resolvePath: (p) => resolve('/specs/site', p),
    env: {},
  });
  assert.ok(spec.flavor === 'dib');
  assert.equal(spec.dib.release, undefined, "the host's release is read at build time");
  assert.deepEqual(spec.dib, { elements: [], elementsPath: ['/specs/site/elements', '/abs/elements'], environment: {} });
  assert.equal(spec.name, 'ipa-dib');
  const bare = normalizeSpec({ flavor: 'dib' } as WrittenSpec, { resolvePath: (p) => p });
  assert.ok(bare.flavor === 'dib');
  assert.deepEqual(bare.dib, { elements: [], elementsPath: [], environment: {} });
});

test('dib: a valid section has no issues', (t) => {
  const dir = tempDir(t, 'dib-spec-');
  mkdirSync(join(dir, 'elements'));
  const list = issues(
    {
      flavor: 'dib',
      dib: {
        release: 'bookworm',
        elements: ['my-users', 'devuser'],
        elementsPath: ['elements'],
        environment: { DIB_DEV_USER_USERNAME: 'ops', IPA_DISTRO_FAMILY: 'other' },
      },
    },
    dir,
  );
  assert.deepEqual(
    list.map((i) => [i.path, i.message]),
    [],
  );
});

test('dib: bad keys are named with their path', (t) => {
  const dir = tempDir(t, 'dib-spec-');
  const byPath = (raw: unknown) => issues(raw, dir).map((i) => i.path);
  assert.ok(byPath({ flavor: 'dib', dib: { elements: ['a/b'] } }).includes('dib.elements[0]'));
  assert.ok(byPath({ flavor: 'dib', dib: { elements: ['a', 'a'] } }).some((p) => p.startsWith('dib.elements')));
  const [env] = issues({ flavor: 'dib', dib: { environment: { 'NOT-A-NAME': 'x' } } }, dir);
  assert.equal(env?.path, 'dib.environment.NOT-A-NAME');
  assert.equal(env?.message, "'NOT-A-NAME' is not a valid key here");
  assert.match(env?.fix ?? '', /keys must match \^\[A-Za-z_\]/);
  assert.ok(byPath({ flavor: 'dib', dib: { environment: { OK: 1 } } }).includes('dib.environment.OK'));
  assert.ok(byPath({ flavor: 'dib', dib: { release: 'Bookworm 12' } }).includes('dib.release'));
  assert.ok(byPath({ flavor: 'dib', dib: { packages: ['x'] } }).some((p) => p.startsWith('dib')));
  const missing = issues({ flavor: 'dib', dib: { elementsPath: ['nope'] } }, dir).find((i) => i.path === 'dib.elementsPath[0]');
  assert.match(missing?.message ?? '', new RegExp(`${join(dir, 'nope')} does not exist`));
  // tinyipa specs may not carry a dib section.
  assert.ok(byPath({ flavor: 'tinyipa', dib: {} }).includes('dib'));
});
