/** The config file's JSON Schema agrees with the loader's checks on the usual forms of every kind. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import type { OptionKind } from './config.js';
import { convertValue, readConfigObject } from './config-load.js';
import { buildConfigFileSchema, schemaOfKind } from './config-schema.js';

const SAMPLES: Record<OptionKind, unknown[]> = {
  string: ['', 'x', 1, true, null],
  text: ['', '/etc', 2],
  bool: [true, false, 'yes', 'NO', ' on ', '1', 'maybe', 3, null],
  int: [0, 7, 1.5, -1, '12', 'x', true],
  number: [0, 2.5, -0.5, '2.5', '', 'x'],
  port: [0, 9999, 65536, '8080', '70000', 1.5],
  list: [[], ['a', 'b'], 'a,b', [1], { a: 1 }],
  urls: [['http://a:6385', 'mdns'], 'http://a,https://b', ['ftp://x'], 'ftp://x', [5], 'mdns'],
  protocol: ['http', 'https', 'gopher', 1],
  apiVersion: ['1.68', 'latest', '2.0'],
  tlsVersion: ['1.2', '1.3', '1.1', 1.2, ''],
};

test('schemaOfKind accepts exactly what the loader accepts, on every sample', () => {
  for (const [kind, values] of Object.entries(SAMPLES) as Array<[OptionKind, unknown[]]>) {
    for (const v of values) {
      assert.equal(Value.Check(schemaOfKind(kind), v), !convertValue(v, kind).problem, `${kind} ${JSON.stringify(v)}`);
    }
  }
});

test('the file schema: both spellings, no unknown keys, same verdict as readConfigObject', () => {
  const schema = buildConfigFileSchema();
  for (const file of [
    { apiUrl: ['http://a:6385'], lookup_timeout: '60', debug: 'yes' },
    { listenPrt: 1 },
    { advertise_protocol: 'https', disk_erasure_concurrency: 2 },
    { listenPort: 70000 },
  ]) {
    assert.equal(Value.Check(schema, file), readConfigObject(file).problems.length === 0, JSON.stringify(file));
  }
  assert.equal(schema.additionalProperties, false);
  assert.match(String(schema.properties.apiUrl?.description), /kernel parameter ipa-api-url/);
});
