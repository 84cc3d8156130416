/** Two builds in different directories at different times (tinyipa's second by a caller with another umask) give identical kernel, initramfs, ISO and UKI bytes (tinyipa, dib, coreos). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from '../../builder/src/index.js';
import { sharedBuild, TEST_SPEC } from '../support/shared-build.js';
import { sha256File } from '../../builder/src/debian/apt.js';
import { DIB_TEST_SPEC, dibSharedBuild } from '../support/dib-build.js';
import { COREOS_TEST_SPEC, coreosSharedBuild, withPrivateEngine } from '../support/coreos-build.js';

/** The kernel, initramfs, ISO and UKI of two builds of `name`: the same bytes, file by file. */
async function assertSameArtifacts(firstDir: string, outputDir: string, name: string): Promise<void> {
  for (const f of ['initramfs', 'iso', 'kernel', 'efi']) {
    const a = await sha256File(join(firstDir, `${name}.${f}`));
    const b = await sha256File(join(outputDir, `${name}.${f}`));
    assert.equal(b, a, `${name}.${f} differs between the two builds`);
  }
}

test('reproducible: a second build elsewhere, later, by a caller with umask 0002, is byte-identical (kernel, initramfs, ISO, UKI)', {
  timeout: 30 * 60_000,
}, async () => {
  const first = await sharedBuild();
  await sleep(1500); // a different wall-clock second for every timestamp that could leak
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-repro-'));
  // A user's umask (0002 gives 0775 directories and 0664 files where the build makes them without a mode).
  const umask = process.umask(0o002);
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
    await assertSameArtifacts(first.dir, r.outputDir!, 'tinyipa');
  } finally {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reproducible: dib, a second build elsewhere, later, is byte-identical (kernel, initramfs, ISO, UKI)', {
  timeout: 45 * 60_000,
}, async () => {
  const first = await dibSharedBuild();
  await sleep(1500);
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-repro-dib-'));
  try {
    // The elements run again on a fresh root and every member is compressed afresh; the Debian base
    // tarball comes from the cache (its own bytes are compared run to run in debian-base.test.ts).
    const r = await build({
      cwd: dir,
      overrides: DIB_TEST_SPEC,
      output: join(dir, 'out'),
      installHostTools: true,
      renderer: 'silent',
      reuseMembers: false,
    });
    const name = DIB_TEST_SPEC.name;
    await assertSameArtifacts(first.dir, r.outputDir!, name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reproducible: coreos, a second build elsewhere, later, by another engine, is byte-identical (kernel, initramfs, ISO, UKI)', {
  timeout: 45 * 60_000,
}, async () => {
  const first = await coreosSharedBuild();
  await sleep(1500);
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-repro-coreos-'));
  try {
    // A fresh private engine (an empty layer cache: the Dockerfile's apt step runs again) and an image ID of
    // its own, so the container archive cached per image ID is not reused: the container is exported and
    // normalised again. The Debian bases and the Node runtime come from the cache.
    const r = await withPrivateEngine(() =>
      build({
        cwd: dir,
        overrides: COREOS_TEST_SPEC,
        output: join(dir, 'out'),
        installHostTools: true,
        renderer: 'silent',
        reuseMembers: false,
      }),
    );
    const name = COREOS_TEST_SPEC.name;
    const manifests = [first.manifest, JSON.parse(readFileSync(join(r.outputDir!, 'manifest.json'), 'utf8'))] as {
      container: { image: string; sha256: string };
    }[];
    assert.notEqual(manifests[1]!.container.image, manifests[0]!.container.image, 'the second engine built its own image');
    assert.equal(manifests[1]!.container.sha256, manifests[0]!.container.sha256, 'container.tar.gz differs');
    await assertSameArtifacts(first.dir, r.outputDir!, name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
