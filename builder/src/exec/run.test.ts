import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseEnv, run } from './run.js';

test('baseEnv keeps the site network settings and drops the rest of the caller environment', () => {
  const env = baseEnv({
    PATH: '/bin',
    HOME: '/h',
    https_proxy: 'http://proxy:3128',
    HTTP_PROXY: 'http://proxy:3128',
    no_proxy: 'localhost',
    NODE_EXTRA_CA_CERTS: '/etc/site-ca.pem',
    npm_config_registry: 'http://registry.example/',
    npm_config_cafile: '/etc/site-ca.pem',
    LD_PRELOAD: '/evil.so',
    XZ_DEFAULTS: '-9e',
    ZSTD_CLEVEL: '3',
    GIT_DIR: '/x',
    LANG: 'de_DE.UTF-8',
  });
  assert.deepEqual(env, {
    PATH: '/bin',
    HOME: '/h',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    https_proxy: 'http://proxy:3128',
    HTTP_PROXY: 'http://proxy:3128',
    no_proxy: 'localhost',
    NODE_EXTRA_CA_CERTS: '/etc/site-ca.pem',
    npm_config_registry: 'http://registry.example/',
    npm_config_cafile: '/etc/site-ca.pem',
  });
});

test('run gives the child only that environment (a compressor never sees XZ_DEFAULTS)', async () => {
  process.env.XZ_DEFAULTS = '-0';
  process.env.https_proxy = 'http://127.0.0.1:9';
  try {
    const { stdout } = await run(['sh', '-c', 'echo "${XZ_DEFAULTS:-unset} $https_proxy"']);
    assert.equal(stdout.trim(), 'unset http://127.0.0.1:9');
  } finally {
    delete process.env.XZ_DEFAULTS;
    delete process.env.https_proxy;
  }
});
