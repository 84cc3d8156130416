import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InternalError } from '../errors.js';
import { loadFlavor, NOT_YET } from './registry.js';
import { FLAVORS } from './sections.js';

test('flavors load by name from their folder; the ones not built yet are refused', async () => {
  const tinyipa = await loadFlavor('tinyipa');
  assert.equal(tinyipa.name, 'tinyipa');
  assert.equal((await loadFlavor('dib')).name, 'dib');
  assert.equal((await loadFlavor('coreos')).name, 'coreos');
  assert.deepEqual(Object.keys(NOT_YET).sort(), []);
  for (const f of FLAVORS.filter((x) => NOT_YET[x])) await assert.rejects(loadFlavor(f), InternalError);
});
