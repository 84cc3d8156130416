/**
 * The shared Debian base: a root filesystem tarball made by mmdebstrap from
 * the host's configured apt sources (read at run time, never a host name of
 * our own), reproducible through SOURCE_DATE_EPOCH, cached by a content key.
 *
 * As root mmdebstrap runs in its root mode; as an ordinary user in its
 * unshare mode, which needs newuidmap (uidmap) and a /etc/subuid range.
 * Downloaded .debs are kept in a private cache beside the tarballs (the
 * sync-in/sync-out hooks of mmdebstrap's manual), so a base with other
 * packages does not fetch everything again. Each build works on its own
 * hard-linked view of that cache and links its new .debs back, so builds of
 * different bases run at the same time (one lock per base).
 */
import { userInfo } from 'node:os';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { link, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, UserError } from '../errors.js';
import { findTool, run } from '../exec/run.js';
import { withCacheLock } from './cache-lock.js';
import { formatDeb822, readHostSources, type AptSource } from './sources.js';

export type BaseVariant = 'minbase' | 'essential' | 'apt' | 'required' | 'important';

export interface BaseRequest {
  /** Debian codename (bookworm). */
  release: string;
  variant: BaseVariant;
  /** Packages on top of the variant. */
  include: string[];
  /** SOURCE_DATE_EPOCH: every mtime mmdebstrap writes, and what maintainer scripts see. */
  epoch: number;
  /** Debian architecture (default amd64). */
  arch?: string;
}

export interface BaseEnv {
  cacheDir: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface DebianBase {
  /** The rootfs as an uncompressed tar (owners, modes, devices kept). */
  tarball: string;
  /** The content key the tarball is cached under. */
  key: string;
}

/** How mmdebstrap may run here: its root mode, its unshare mode, or not at all (with the reason and the fix). */
export type BaseMode = { mode: 'root' | 'unshare' } | { mode: 'none'; reason: string };

/**
 * The host's sources rewritten for `release`: a suite named after the host's
 * release (bookworm, bookworm-updates, bookworm-security) is renamed to the
 * same suite of `release`; exact-path suites stay as they are.
 */
export function sourcesForRelease(sources: AptSource[], hostRelease: string | undefined, release: string): AptSource[] {
  if (!hostRelease || hostRelease === release) return sources;
  return sources.map((s) => ({
    ...s,
    suites: s.suites.map((suite) =>
      suite === hostRelease || suite.startsWith(`${hostRelease}-`) ? release + suite.slice(hostRelease.length) : suite,
    ),
  }));
}

/** The cache key of a base: everything that changes its bytes. */
export function baseKey(req: BaseRequest, sourcesText: string, mmdebstrapVersion: string): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: 1,
      release: req.release,
      variant: req.variant,
      include: [...new Set(req.include)].sort(),
      epoch: req.epoch,
      arch: req.arch ?? 'amd64',
      sources: sourcesText,
      mmdebstrap: mmdebstrapVersion,
      // How mmdebstrap is asked (hooks, skips): a change there is a new base.
      args: mmdebstrapArgs({ req, mode: 'root', sourcesFile: '-', debCache: '-', target: '-' }),
    }),
  );
  return h.digest('hex').slice(0, 32);
}

/** mmdebstrap's argv (without the program name) for one base. */
export function mmdebstrapArgs(o: {
  req: BaseRequest;
  mode: 'root' | 'unshare';
  sourcesFile: string;
  debCache: string;
  target: string;
}): string[] {
  const include = [...new Set(o.req.include)].sort();
  return [
    `--mode=${o.mode}`,
    `--variant=${o.req.variant}`,
    `--architectures=${o.req.arch ?? 'amd64'}`,
    '--format=tar',
    // Merged /usr the debootstrap way (usr-is-merged) where the release has it, not with the
    // usrmerge package, which pulls the full perl (~45 MB) into every base (mmdebstrap(1), MERGED-/USR).
    '--hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr',
    ...(include.length ? [`--include=${include.join(',')}`] : []),
    // Reuse and refill the private .deb cache (mmdebstrap(1), EXAMPLES).
    '--skip=essential/unlink',
    '--skip=download/empty',
    `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
    `--setup-hook=sync-in ${shellQuote(o.debCache)} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${shellQuote(o.debCache)}`,
    // sync-in made archives/ with the outside owner: the caller's uid in unshare mode (root's already as root).
    '--customize-hook=chown 0:0 "$1"/var/cache/apt/archives',
    // No downloaded indexes in the image; mmdebstrap cleans the rest (apt caches, logs, machine-id).
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/archives/*.deb',
    // openssh-server's postinst makes host keys: random bytes, and a secret no image may share.
    '--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*',
    '--quiet',
    o.req.release,
    o.target,
    o.sourcesFile,
  ];
}

/** Root mode as root; unshare mode when newuidmap and a subuid range for the user exist; otherwise why not. */
export function chooseMode(uid: number, user: string, hasNewuidmap: boolean, subuid: string | undefined): BaseMode {
  if (uid === 0) return { mode: 'root' };
  const ranges = (subuid ?? '').split('\n').map((l) => l.split(':')[0]);
  if (hasNewuidmap && ranges.some((name) => name === user || name === String(uid))) return { mode: 'unshare' };
  const missing = [
    !hasNewuidmap && 'newuidmap (package uidmap)',
    !ranges.some((n) => n === user || n === String(uid)) && `a range for ${user} in /etc/subuid`,
  ]
    .filter(Boolean)
    .join(' and ');
  return { mode: 'none', reason: `building a Debian base as ${user} needs ${missing}` };
}

/** The host's Debian release (VERSION_CODENAME of /etc/os-release), if it is Debian-like. */
export function hostRelease(osRelease = '/etc/os-release'): string | undefined {
  try {
    const m = /^VERSION_CODENAME=("?)([a-z0-9-]+)\1$/m.exec(readFileSync(osRelease, 'utf8'));
    return m?.[2];
  } catch {
    return undefined;
  }
}

/** Build (or take from the cache) the base rootfs tarball for `req`. */
export async function debianBase(req: BaseRequest, env: BaseEnv): Promise<DebianBase> {
  const mode = hostMode();
  if (mode.mode === 'none') {
    throw new UserError(mode.reason, {
      hint: 'run the build as root, or install uidmap (apt-get install uidmap) and add "USER:100000:65536" to /etc/subuid and /etc/subgid',
    });
  }
  const tool = findTool('mmdebstrap');
  if (!tool) throw new UserError('mmdebstrap is not installed', { hint: 'apt-get install mmdebstrap (or: ramforge doctor --fix)' });
  const version = (await run([tool, '--version'], { signal: env.signal })).stdout.trim();
  const sources = sourcesForRelease(await readHostSources(), hostRelease(), req.release);
  const sourcesText = formatDeb822(sources);
  const key = baseKey(req, sourcesText, version);
  const dir = join(env.cacheDir, 'debian-base');
  const tarball = join(dir, `${req.release}-${req.variant}-${key}.tar`);
  // One lock per base, not one for the cache: two different bases (the coreos host's and its
  // container's) are made at the same time, each from its own view of the shared .deb cache.
  const lockDir = join(dir, 'locks', key);
  await mkdir(lockDir, { recursive: true });
  return withCacheLock(lockDir, async () => {
    if (existsSync(tarball)) {
      env.log(`debian base ${req.release}/${req.variant} from the cache (${key.slice(0, 12)})`);
      return { tarball, key };
    }
    const sharedDebs = join(dir, 'debs', `${req.release}-${req.arch ?? 'amd64'}`);
    const debCache = join(dir, `debs-${key}`);
    await rm(debCache, { recursive: true, force: true });
    await linkDebs(sharedDebs, debCache);
    // A fixed file name: mmdebstrap names the chroot's sources file after it.
    const sourcesDir = join(dir, `sources-${key}`);
    await mkdir(sourcesDir, { recursive: true });
    const sourcesFile = join(sourcesDir, 'debian.sources');
    await writeFile(sourcesFile, sourcesText);
    const partial = `${tarball}.partial`;
    const argv = [tool, ...mmdebstrapArgs({ req, mode: mode.mode, sourcesFile, debCache, target: partial })];
    env.log(`mmdebstrap ${req.release} (${req.variant}, ${req.include.length} packages, ${mode.mode} mode)`);
    const t0 = performance.now();
    try {
      await run(argv, {
        env: { SOURCE_DATE_EPOCH: String(req.epoch), TMPDIR: process.env.TMPDIR ?? '/tmp' },
        signal: env.signal,
        onStderr: (c) => {
          for (const l of c.split('\n')) if (l.trim()) env.log(l.trim());
        },
      });
      await rename(partial, tarball);
      await linkDebs(debCache, sharedDebs);
    } catch (e) {
      await rm(partial, { force: true });
      throw new BuildError(`mmdebstrap could not build the ${req.release} base`, {
        hint: 'check the package names in the include list and that the host can reach its apt sources',
        cause: e,
      });
    } finally {
      await rm(sourcesDir, { recursive: true, force: true });
      await rm(debCache, { recursive: true, force: true });
    }
    const size = (await stat(tarball)).size;
    env.log(`debian base: ${(size / 1048576).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return { tarball, key };
  });
}

/**
 * Hard-link every .deb of `from` that `to` lacks into `to`. A link makes a
 * whole file appear at once, so readers of the shared cache never see a
 * half-written .deb and two builds can fill it at the same time.
 */
export async function linkDebs(from: string, to: string): Promise<number> {
  await mkdir(to, { recursive: true });
  let added = 0;
  for (const name of await readdir(from).catch(() => [] as string[])) {
    if (!name.endsWith('.deb')) continue;
    const src = join(from, name);
    if (!(await lstat(src)).isFile()) continue;
    try {
      await link(src, join(to, name));
      added++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return added;
}

/**
 * Unpack a base tarball into `dir` with its owners, modes and device nodes
 * (as root). As an ordinary user inside no namespace, owners and device nodes
 * cannot be made: those are left out and the cpio writer adds /dev itself.
 */
export async function extractBase(
  tarball: string,
  dir: string,
  signal?: AbortSignal,
  /** Run tar as root in a user namespace (an ordinary user's dib build): owners kept, device nodes left out (no mknod there). */
  inUserns?: (argv: string[]) => string[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const root = process.getuid?.() === 0;
  const argv = ['tar', '-x', '-f', tarball, '-C', dir, '--numeric-owner', '--xattrs', '--xattrs-include=*'];
  if (root) argv.push('--same-owner', '--preserve-permissions');
  else if (inUserns) argv.push('--same-owner', '--preserve-permissions', '--exclude=./dev/*');
  else argv.push('--no-same-owner', '--exclude=./dev/*');
  await run(!root && inUserns ? inUserns(argv) : argv, signal ? { signal } : {});
}

function hostMode(): BaseMode {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return { mode: 'root' };
  let user: string;
  try {
    user = userInfo().username; // what newuidmap looks up, whatever $USER says
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? String(uid);
  }
  let subuid: string | undefined;
  try {
    subuid = readFileSync('/etc/subuid', 'utf8');
  } catch {
    subuid = undefined;
  }
  return chooseMode(uid, user, findTool('newuidmap') !== undefined, subuid);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
