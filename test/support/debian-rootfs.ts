/**
 * A small chroot-able Debian root for tests of the dib element runner:
 * `mmdebstrap --variant=minbase` of the host's release from the host's
 * configured mirror, kept as a tar under ramforge's cache dir, extracted
 * (owners kept) into a fresh directory per test. A stand-in until the dib
 * flavor's own base stage (builder/src/debian/mmdebstrap.ts) is in main.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from '../../builder/src/defaults.js';
import { formatDeb822, readHostSources } from '../../builder/src/debian/sources.js';
import { run } from '../../builder/src/exec/run.js';
import { releaseSources } from '../../builder/src/flavors/dib/elements/helper-data.js';

export function hostRelease(): string {
  const m = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'));
  if (!m?.[1]) throw new Error('the host has no VERSION_CODENAME in /etc/os-release');
  return m[1].replace(/"/g, '');
}

/** The cached minbase tar of `release` (made on first use, ~40 s). */
export async function debianBaseTar(release = hostRelease()): Promise<string> {
  const dir = join(defaultCacheDir(), 'test-rootfs');
  const tar = join(dir, `${release}-minbase.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(dir, { recursive: true });
  const sources = releaseSources(await readHostSources(), hostRelease(), release);
  const list = join(dir, `${release}-${process.pid}.sources`);
  writeFileSync(list, formatDeb822(sources));
  const part = `${tar}.${process.pid}.part`;
  try {
    await run(['mmdebstrap', '--quiet', '--variant=minbase', '--mode=root', '--format=tar', release, part, list], {
      env: { SOURCE_DATE_EPOCH: '1767225600' },
    });
    renameSync(part, tar);
  } finally {
    rmSync(list, { force: true });
    rmSync(part, { force: true });
  }
  return tar;
}

/** A fresh root extracted from the cached tar; removed by the test's after hook. */
export async function debianRoot(t: { after: (fn: () => void) => void }, release?: string): Promise<string> {
  const tar = await debianBaseTar(release);
  const root = mkdtempSync(join(tmpdir(), 'dib-root-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await run(['tar', '-C', root, '--numeric-owner', '-xpf', tar]);
  return root;
}
