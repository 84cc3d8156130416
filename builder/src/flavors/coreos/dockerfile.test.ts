import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ATA_BRIDGE_CHECK_PACKAGES } from '../agent-packages.js';
import { TINYIPA_PACKAGES } from '../tinyipa/index.js';
import { DEFAULT_DOCKERFILE, proxyBuildArgs } from './container.js';

const dockerfile = readFileSync(DEFAULT_DOCKERFILE, 'utf8');

test('the Dockerfile installs the tools the other flavors ship (docs/ramdisk-tools.md)', () => {
  const install = /apt-get install[^\n]*\\\n([^;]*);/.exec(dockerfile)?.[1] ?? '';
  const pkgs = new Set(install.split(/[\s\\]+/).filter(Boolean));
  // busybox and the C runtime come with every Debian base.
  for (const p of TINYIPA_PACKAGES.filter((x) => !['busybox-static', 'libc6', 'libgcc-s1'].includes(x))) assert.ok(pkgs.has(p), p);
  for (const p of ATA_BRIDGE_CHECK_PACKAGES) assert.ok(pkgs.has(p), p);
});

test('the Dockerfile starts the agent, takes BASE and the apt sources as arguments and leaves no sources behind', () => {
  assert.match(dockerfile, /^ARG BASE=/m);
  assert.match(dockerfile, /^FROM \$\{BASE\}$/m);
  assert.match(dockerfile, /^ARG APT_SOURCES$/m);
  assert.match(dockerfile, /rm -f \/etc\/apt\/sources\.list\.d\/ramforge-build\.sources/);
  assert.match(dockerfile, /^COPY ironic-python-agent \/usr\/local\/bin\/ironic-python-agent$/m);
  assert.match(dockerfile, /^CMD \["\/usr\/local\/bin\/ironic-python-agent"\]$/m);
  assert.doesNotMatch(dockerfile, /https?:\/\//, 'no mirror or registry named');
});

test('proxy variables pass through as build arguments, nothing else', () => {
  assert.deepEqual(
    proxyBuildArgs({
      http_proxy: 'http://p:3128',
      HTTPS_PROXY: 'http://q',
      no_proxy: 'localhost',
      HOME: '/root',
      npm_config_registry: 'x',
    }),
    {
      http_proxy: 'http://p:3128',
      HTTPS_PROXY: 'http://q',
      no_proxy: 'localhost',
    },
  );
});
