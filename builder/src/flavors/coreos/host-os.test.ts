import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_TOOL_PACKAGES } from '../agent-packages.js';
import { HOST_ELEMENTS, HOST_PACKAGES } from './host-os.js';

const ELEMENT = fileURLToPath(new URL('./elements/ramforge-coreos-host/', import.meta.url));

test('the host carries none of the agent tools: the container has them', () => {
  const shared = HOST_PACKAGES.filter((p) => (AGENT_TOOL_PACKAGES as readonly string[]).includes(p));
  assert.deepEqual(shared, []);
  assert.ok(HOST_PACKAGES.includes('linux-image-amd64'), 'the kernel comes from the root /boot, as for dib');
  assert.ok(HOST_ELEMENTS.includes('ramforge-coreos-host'));
});

test('ramforge-coreos-host: every hook script and every program it installs is executable (dib-run-parts skips the rest)', () => {
  const files = [
    ...['extra-data.d', 'install.d'].flatMap((d) => readdirSync(join(ELEMENT, d)).map((f) => join(ELEMENT, d, f))),
    join(ELEMENT, 'static/usr/bin/update-ssh-keys'),
    ...readdirSync(join(ELEMENT, 'static/usr/lib/ramforge')).map((f) => join(ELEMENT, 'static/usr/lib/ramforge', f)),
  ];
  assert.ok(files.length >= 6);
  for (const f of files) assert.doesNotThrow(() => accessSync(f, constants.X_OK), f);
});
