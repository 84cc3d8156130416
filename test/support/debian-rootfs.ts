/**
 * A small chroot-able Debian root for tests of the dib element runner: the
 * shared Debian base (builder/src/debian/mmdebstrap.ts, `minbase` of the
 * host's release from the host's mirror, cached under ramforge's cache dir)
 * extracted with its owners into a fresh directory per test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_EPOCH, defaultCacheDir } from '../../builder/src/defaults.js';
import { debianBase, extractBase, hostRelease as debianHostRelease } from '../../builder/src/debian/mmdebstrap.js';

export function hostRelease(): string {
  const r = debianHostRelease();
  if (!r) throw new Error('the host has no Debian VERSION_CODENAME in /etc/os-release');
  return r;
}

/** The cached minbase tar of `release` (made on first use, about a minute). */
export async function debianBaseTar(release = hostRelease()): Promise<string> {
  const base = await debianBase(
    { release, variant: 'minbase', include: [], epoch: DEFAULT_EPOCH },
    { cacheDir: defaultCacheDir(), log: () => {}, signal: new AbortController().signal },
  );
  return base.tarball;
}

/** A fresh root extracted from the cached tar; removed by the test's after hook. */
export async function debianRoot(t: { after: (fn: () => void) => void }, release?: string): Promise<string> {
  const tar = await debianBaseTar(release);
  const root = mkdtempSync(join(tmpdir(), 'dib-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await extractBase(tar, root);
  return root;
}
