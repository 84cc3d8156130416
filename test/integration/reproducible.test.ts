/** Two builds in different directories at different times give identical kernel, initramfs, ISO and UKI bytes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from '../../builder/src/index.js';
import { sharedBuild, TEST_SPEC } from '../support/shared-build.js';
import { sha256File } from '../../builder/src/debian/apt.js';

test('reproducible: a second build elsewhere, later, is byte-identical (kernel, initramfs, ISO, UKI)', {
  timeout: 30 * 60_000,
}, async () => {
  const first = await sharedBuild();
  await sleep(1500); // a different wall-clock second for every timestamp that could leak
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-repro-'));
  try {
    // reuseMembers: false — compress every member afresh rather than reuse the first build's.
    const r = await build({
      cwd: dir,
      overrides: TEST_SPEC,
      output: join(dir, 'out'),
      installHostTools: true,
      renderer: 'silent',
      reuseMembers: false,
    });
    const second = join(r.outputDir!, 'tinyipa');
    for (const f of ['initramfs', 'iso', 'kernel', 'efi']) {
      const a = await sha256File(join(first.dir, `tinyipa.${f}`));
      const b = await sha256File(`${second}.${f}`);
      assert.equal(b, a, `tinyipa.${f} differs between the two builds`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
