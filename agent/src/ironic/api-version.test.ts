import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseLowerVersion, isVersionAtLeast, normalizeApiVersion, parseApiVersion } from './api-version.js';

describe('api versions', () => {
  it('compares minor versions numerically', () => {
    assert.equal(isVersionAtLeast('1.9', '1.31'), false);
    assert.equal(isVersionAtLeast('1.68', '1.68'), true);
    assert.equal(isVersionAtLeast('2.0', '1.99'), true);
    assert.equal(chooseLowerVersion('1.82', '1.62'), '1.62');
    assert.equal(chooseLowerVersion('1.46', '1.62'), '1.46');
  });
  it('parses and normalizes "major.minor" only', () => {
    assert.deepEqual(parseApiVersion(' 1.68 '), [1, 68]);
    assert.equal(parseApiVersion('latest'), undefined);
    assert.equal(normalizeApiVersion('1.068'), '1.68');
    assert.equal(normalizeApiVersion('v1'), undefined);
  });
});
