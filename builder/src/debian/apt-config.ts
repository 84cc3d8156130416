/**
 * A private apt configuration: its own lists, package cache, empty dpkg
 * status, sources and preferences. apt-get then runs without root, never
 * reads or writes the host's /var/lib/apt or dpkg status, and can run while
 * the host's own apt holds its locks.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec/run.js';
import { formatDeb822, type AptSource } from './sources.js';

/** Paths of one private apt instance (one per set of sources + architecture). */
export interface AptPaths {
  root: string;
  configFile: string;
  listsDir: string;
  archivesDir: string;
  /** An always-empty directory: the cwd of apt-get commands that must not see cached files. */
  emptyDir: string;
  /** Written after every successful `apt-get update`; its mtime is the lists' age. */
  updateStamp: string;
}

/** Cache key: the sources as apt will read them, plus the architecture. */
export function sourcesKey(sources: AptSource[], arch: string): string {
  return createHash('sha256')
    .update(`${arch}\n${formatDeb822(sources)}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Create the private apt tree under `<cacheDir>/apt-<arch>-<key>/` and write
 * its apt.conf (passed to apt through APT_CONFIG).
 */
export async function preparePrivateApt(cacheDir: string, sources: AptSource[], arch: string): Promise<AptPaths> {
  const root = join(cacheDir, `apt-${arch}-${sourcesKey(sources, arch)}`);
  const dirs = {
    state: join(root, 'state'),
    lists: join(root, 'state', 'lists'),
    cache: join(root, 'cache'),
    archives: join(root, 'cache', 'archives'),
    etc: join(root, 'etc'),
    parts: join(root, 'etc', 'apt.conf.d'),
    sourceParts: join(root, 'etc', 'sources.list.d'),
    prefParts: join(root, 'etc', 'preferences.d'),
    log: join(root, 'log'),
    empty: join(root, 'empty'),
  };
  for (const d of [
    join(dirs.lists, 'partial'),
    join(dirs.archives, 'partial'),
    dirs.parts,
    dirs.sourceParts,
    dirs.prefParts,
    dirs.log,
    dirs.empty,
  ]) {
    await mkdir(d, { recursive: true });
  }
  const status = join(dirs.state, 'status');
  await writeIfChanged(status, '');
  await writeIfChanged(join(dirs.etc, 'apt.conf'), '');
  await writeIfChanged(join(dirs.etc, 'preferences'), '');
  await writeIfChanged(join(dirs.etc, 'sources.list'), '');
  await writeIfChanged(join(dirs.sourceParts, 'ramforge.sources'), formatDeb822(sources));
  const proxies = await readHostProxies();
  const conf = [
    `Dir::State "${dirs.state}";`,
    `Dir::State::status "${status}";`,
    `Dir::Cache "${dirs.cache}";`,
    `Dir::Cache::archives "${dirs.archives}";`,
    `Dir::Log "${dirs.log}";`,
    // Host apt.conf.d is skipped on purpose: it carries hooks (Post-Invoke) and
    // settings for the host's dpkg. Proxies are the one thing carried over.
    `Dir::Etc::main "${join(dirs.etc, 'apt.conf')}";`,
    `Dir::Etc::Parts "${dirs.parts}";`,
    `Dir::Etc::SourceList "${join(dirs.etc, 'sources.list')}";`,
    `Dir::Etc::SourceParts "${dirs.sourceParts}";`,
    `Dir::Etc::Preferences "${join(dirs.etc, 'preferences')}";`,
    `Dir::Etc::PreferencesParts "${dirs.prefParts}";`,
    `APT::Architecture "${arch}";`,
    `APT::Architectures { "${arch}"; };`,
    'APT::Install-Recommends "false";',
    'APT::Install-Suggests "false";',
    // Our state is private: apt's locks would only serialise us against
    // ourselves (a lock file of ours guards that), never against the host.
    'Debug::NoLocking "true";',
    'Acquire::Languages "none";',
    'Acquire::AllowInsecureRepositories "false";',
    'Acquire::AllowDowngradeToInsecureRepositories "false";',
    'APT::Get::AllowUnauthenticated "false";',
    // apt drops to the _apt user to download, which cannot write into root's
    // cache directory; as root, download as root instead of failing with a warning.
    ...(process.getuid?.() === 0 ? ['APT::Sandbox::User "root";'] : []),
    ...proxies,
  ];
  const configFile = join(root, 'apt.conf');
  await writeIfChanged(configFile, conf.join('\n') + '\n');
  return { root, configFile, listsDir: dirs.lists, archivesDir: dirs.archives, emptyDir: dirs.empty, updateStamp: join(root, 'updated') };
}

/** Environment for apt-get: our config, plus proxy variables the user set. */
export function aptEnv(paths: AptPaths): Record<string, string> {
  const env: Record<string, string> = { APT_CONFIG: paths.configFile };
  for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']) {
    const v = process.env[k];
    if (v) env[k] = v;
  }
  return env;
}

/**
 * apt rebuilds its binary package cache (~2 s) when the status file or the
 * sources are newer than it: rewrite them only when their content changes.
 */
async function writeIfChanged(path: string, text: string): Promise<void> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old !== text) await writeFile(path, text);
}

/** Acquire::*::Proxy settings of the host apt, as apt.conf lines. */
async function readHostProxies(): Promise<string[]> {
  try {
    const { stdout } = await run(['apt-config', 'dump', 'Acquire']);
    return stdout
      .split('\n')
      .filter((l) => /^Acquire::(https?|ftp)::Proxy[ :]/i.test(l))
      .map((l) => l.trim());
  } catch {
    return [];
  }
}
