import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dibOverrides } from './build.js';

test('--element and --elements-path set dib.elements and dib.elementsPath, paths from where the command runs', () => {
  assert.equal(dibOverrides(undefined, undefined, '/here'), undefined);
  assert.deepEqual(dibOverrides(['a', 'b'], ['els', '/abs'], '/here'), { elements: ['a', 'b'], elementsPath: ['/here/els', '/abs'] });
  assert.deepEqual(dibOverrides(['a'], undefined, '/here'), { elements: ['a'] });
});
