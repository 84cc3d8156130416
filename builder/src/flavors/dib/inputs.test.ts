import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeDibInputs } from './inputs.js';

test("the caller's ELEMENTS_PATH comes after the spec's paths; DIB_* variables pass, the spec's environment wins", () => {
  const r = mergeDibInputs(
    { elements: ['my-users'], elementsPath: ['/spec/elements', '/shared'], environment: { DIB_RELEASE: 'trixie', IPA_X: '1' } },
    { ELEMENTS_PATH: '/shared::rel/elements:/site', DIB_RELEASE: 'bookworm', DIB_DEBUG_TRACE: '1', HOME: '/root', IPA_Y: '2' },
    '/work',
  );
  assert.deepEqual(r.elements, ['my-users']);
  assert.deepEqual(r.elementsPath, ['/spec/elements', '/shared', '/work/rel/elements', '/site']);
  assert.deepEqual(r.environment, { DIB_RELEASE: 'trixie', DIB_DEBUG_TRACE: '1', IPA_X: '1' });
});

test('no ELEMENTS_PATH, no DIB_* variables: the spec alone', () => {
  const r = mergeDibInputs({ elements: [], elementsPath: [], environment: {} }, {}, '/work');
  assert.deepEqual(r, { elements: [], elementsPath: [], environment: {} });
});
