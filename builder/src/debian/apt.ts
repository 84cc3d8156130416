/**
 * apt-get against the host's mirror with a private state directory: package
 * lists, resolution from an empty dpkg status (so every dependency down to
 * libc6 is listed) and a .deb cache kept between builds (the warm build).
 * Signatures are checked by apt with the keyrings the host's sources name.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, ProcessError, UserError } from '../errors.js';
import { run, type RunResult } from '../exec/run.js';
import { aptEnv, preparePrivateApt, type AptPaths } from './apt-config.js';
import {
  classifyAptFailure,
  debFileName,
  parsePrintUris,
  parseFailedFetch,
  parseSimulatedInstall,
  type DownloadedPackage,
  type PackageUri,
  type ResolvedPackage,
} from './apt-parse.js';
import { withCacheLock } from './cache-lock.js';
import { describeSources, type AptSource } from './sources.js';

export type { DownloadedPackage, ResolvedPackage } from './apt-parse.js';

const DAY = 24 * 60 * 60;
/**
 * After a failed implicit refresh, builds go on with the stale lists without
 * asking the mirror again for this long: an unreachable mirror can take
 * minutes to fail (DNS timeouts per source), and one build asks several times.
 */
const FAILED_FETCH_RETRY_SECONDS = 30 * 60;
/**
 * In the repo's cache root: when (its mtime) and why (first line) the last
 * implicit refresh failed, and under which network settings (a `settings`
 * line, networkSettingsKey): a failure under other settings is not reused.
 */
const FAILED_FETCH_FILE = 'fetch-failed';

type RefreshOutcome =
  | { kind: 'fresh' | 'fetched' }
  | { kind: 'stale'; stamp: string; failure: string }
  | { kind: 'remembered'; stamp: string; failure: string; ageSeconds: number };

/**
 * Packages a ramdisk without dpkg needs only for package management and
 * maintainer scripts (which never run here). Passing them as
 * `assumeInstalled` keeps perl & co out: 104 → 80 packages for a tinyipa set.
 */
export const SCRIPT_ONLY_PACKAGES: readonly string[] = ['adduser', 'debconf', 'dpkg', 'init-system-helpers', 'perl-base', 'usrmerge'];

export interface ResolveOptions {
  /** Also install Recommends (default false, like --no-install-recommends). */
  recommends?: boolean;
  /** Names apt should treat as already installed: dependencies on them are satisfied without pulling them (and their dependencies) in. */
  assumeInstalled?: readonly string[];
}

export interface AptRepoOptions {
  /** Cache root (see defaultCacheDir() in defaults.ts); the repo uses `<cacheDir>/apt-<arch>-<key>/`. */
  cacheDir: string;
  sources: AptSource[];
  /** Debian architecture. Default amd64. */
  arch?: string;
}

/** One set of apt sources with its private lists and .deb cache. */
export class AptRepo {
  readonly sources: AptSource[];
  readonly arch: string;
  private readonly cacheDir: string;
  private paths: AptPaths | undefined;
  private updated = false;
  /**
   * The lists in use are older than a refresh would give (the mirror could
   * not be reached, now or in the last 30 minutes): what they name may be
   * gone from the mirror. See fetchDebianInput.
   */
  private listsStale = false;
  /** Things worth telling the user that did not stop the build (e.g. stale lists used offline). */
  readonly warnings: string[] = [];

  constructor(opts: AptRepoOptions) {
    this.cacheDir = opts.cacheDir;
    this.sources = opts.sources;
    this.arch = opts.arch ?? 'amd64';
  }

  /** Directory holding this repo's lists and .debs. */
  async cachePath(): Promise<string> {
    return (await this.preparePaths()).root;
  }

  /** Refresh the package lists when older than maxAgeSeconds (default one day) or when forced; a failed fetch throws. */
  async update(opts: { maxAgeSeconds?: number; force?: boolean } = {}): Promise<void> {
    await this.refresh({ maxAgeSeconds: opts.maxAgeSeconds ?? DAY, force: opts.force ?? false, implicit: false });
    this.updated = true;
  }

  /**
   * The refresh, under the cache lock (other builds sharing the cache wait
   * for it, and see its result). An implicit one (before resolve/download)
   * with lists from an earlier update: a failed fetch is remembered in
   * fetch-failed and answered with the stale lists ('stale'), and while that
   * failure is younger than FAILED_FETCH_RETRY_SECONDS the mirror is not
   * asked again ('remembered').
   */
  private async refresh(o: { maxAgeSeconds: number; force: boolean; implicit: boolean }): Promise<RefreshOutcome> {
    const paths = await this.preparePaths();
    const failedFile = join(paths.root, FAILED_FETCH_FILE);
    return withCacheLock(paths.root, async (): Promise<RefreshOutcome> => {
      const stamp = (await readFile(paths.updateStamp, 'utf8').catch(() => undefined))?.trim();
      if (!o.force) {
        const age = await ageSeconds(paths.updateStamp);
        if (age !== undefined && age < o.maxAgeSeconds) return { kind: 'fresh' };
      }
      if (o.implicit && stamp !== undefined) {
        const failedAge = await ageSeconds(failedFile);
        // (A negative age, a clock set back, is not trusted: the mirror is asked.)
        if (failedAge !== undefined && failedAge >= 0 && failedAge < FAILED_FETCH_RETRY_SECONDS) {
          const memo = parseFailedFetch(await readFile(failedFile, 'utf8').catch(() => ''));
          // A proxy set, changed or removed since may reach the mirror: ask it. (A memo without
          // the line, from before it was written, counts as made under these settings.)
          if (memo.settings === undefined || memo.settings === (await networkSettingsKey(paths))) {
            return { kind: 'remembered', stamp, failure: memo.failure, ageSeconds: failedAge };
          }
        }
      }
      try {
        // --error-on=any: without it apt-get update exits 0 when a mirror is unreachable.
        await this.apt(['apt-get', 'update', '--error-on=any'], 'update the package lists');
      } catch (e) {
        if (!o.implicit || stamp === undefined || !(e instanceof BuildError)) throw e;
        await writeFile(failedFile, `${e.message.split('\n')[0]}\nsettings ${await networkSettingsKey(paths)}\n`).catch(() => undefined);
        return { kind: 'stale', stamp, failure: e.message };
      }
      await rm(join(paths.root, 'memo'), { recursive: true, force: true });
      await rm(failedFile, { force: true });
      await writeFile(paths.updateStamp, new Date().toISOString() + '\n');
      return { kind: 'fetched' };
    });
  }

  /**
   * Resolve packages (and `name=version` pins) with all their dependencies,
   * as apt would install them on an empty system. Sorted by name.
   */
  async resolve(pkgs: string[], opts: ResolveOptions = {}): Promise<ResolvedPackage[]> {
    if (pkgs.length === 0) return [];
    await this.ensureUpdated();
    // A package asked for by name is never assumed present (apt would skip it as "already installed").
    const asked = new Set(pkgs.map((p) => p.split(/[=:]/)[0]));
    const assumed = (opts.assumeInstalled ?? []).filter((n) => !asked.has(n));
    const status = assumed.length ? await this.assumedStatus(assumed) : [];
    const argv = [
      'apt-get',
      ...status,
      'install',
      '--simulate',
      '--quiet',
      '--yes',
      opts.recommends ? '--install-recommends' : '--no-install-recommends',
      '--',
      ...pkgs,
    ];
    return this.memo(argv, async () => {
      const resolved = parseSimulatedInstall((await this.apt(argv, `resolve ${pkgs.join(' ')}`)).stdout);
      if (resolved.length === 0) {
        throw new BuildError(`apt-get resolved nothing for ${pkgs.join(' ')}`, { hint: "run again with --debug to see apt-get's output" });
      }
      return resolved;
    });
  }

  /**
   * Make sure every package's .deb is in the cache with the SHA256 of the
   * Packages index: cached files are checked, missing or corrupt ones are
   * (re)downloaded by apt-get, which verifies them too.
   */
  async download(pkgs: ResolvedPackage[]): Promise<DownloadedPackage[]> {
    if (pkgs.length === 0) return [];
    const paths = await this.preparePaths();
    await this.ensureUpdated();
    const specs = pkgs.map((p) => `${p.name}:${p.arch}=${p.version}`);
    // --print-uris leaves out files already present in its cwd: apt() runs it in an empty directory.
    const uriArgv = ['apt-get', 'download', '--print-uris', '--', ...specs];
    const uris = await this.memo(uriArgv, async () => parsePrintUris((await this.apt(uriArgv, 'look up the download URIs')).stdout));
    const byFile = new Map(uris.map((u) => [u.fileName, u]));
    const wanted = pkgs.map((p) => {
      const uri = byFile.get(debFileName(p));
      if (!uri)
        throw new BuildError(`apt-get did not list a download for ${p.name} ${p.version} (${p.arch})`, {
          hint: 'refresh the package lists: run again with RAMFORGE_APT_UPDATE=1',
        });
      return { pkg: p, uri, path: join(paths.archivesDir, uri.fileName) };
    });
    return withCacheLock(paths.root, async () => {
      for (let attempt = 1; ; attempt++) {
        const bad: typeof wanted = [];
        for (const w of wanted) if (!(await matchesIndex(w.path, w.uri))) bad.push(w);
        if (bad.length === 0) break;
        if (attempt > 2) {
          const names = bad.map((b) => b.path).join(', ');
          throw new BuildError(`downloaded .deb does not match the Packages index: ${names}`, {
            hint: `the mirror or a proxy serves corrupt files; delete ${paths.archivesDir} and retry, or use another mirror`,
          });
        }
        // A file of the right size is trusted by apt-get download as complete;
        // delete what failed our check so apt fetches it again.
        for (const b of bad) await rm(b.path, { force: true });
        await this.apt(
          ['apt-get', 'download', '--quiet', '--', ...bad.map((b) => `${b.pkg.name}:${b.pkg.arch}=${b.pkg.version}`)],
          `download ${bad.length} package(s)`,
          paths.archivesDir,
        );
      }
      return wanted.map((w) => ({ ...w.pkg, path: w.path, size: w.uri.size, sha256: w.uri.sha256 }));
    });
  }

  /** Resolve then download: the usual call. */
  async fetchPackages(pkgs: string[], opts: ResolveOptions = {}): Promise<DownloadedPackage[]> {
    return this.download(await this.resolve(pkgs, opts));
  }

  /**
   * Run `fn` (resolve/download calls on this repo). When it fails on lists
   * the mirror could not refresh (listsStale: they may name versions the
   * mirror no longer has, or lack a package new to it) and the mirror
   * answers now, the lists are fetched and `fn` runs once more; otherwise
   * its error stands.
   */
  async retryWithFreshLists<T>(fn: () => Promise<T>, log: (line: string) => void = () => {}): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!this.listsStale || !(e instanceof BuildError || e instanceof UserError)) throw e;
      try {
        await this.update({ force: true });
      } catch {
        throw e;
      }
      this.listsStale = false;
      log('the package lists were stale and the mirror answers again: lists fetched, trying once more');
      return await fn();
    }
  }

  /**
   * A dpkg status file claiming `names` are installed (at a version above any
   * versioned dependency), so apt satisfies dependencies on them without
   * pulling them in. One file per set, so the main status stays empty.
   */
  private async assumedStatus(names: readonly string[]): Promise<string[]> {
    const paths = await this.preparePaths();
    const sorted = [...new Set(names)].sort();
    const text = sorted
      .map(
        (n) =>
          `Package: ${n}\nStatus: install ok installed\nVersion: 999:999\nArchitecture: ${this.arch}\n` +
          'Maintainer: ramforge\nDescription: assumed present (ramforge assumeInstalled)\n',
      )
      .join('\n');
    const id = createHash('sha256').update(text).digest('hex').slice(0, 12);
    const file = join(paths.root, 'state', `status-${id}`);
    if ((await readFile(file, 'utf8').catch(() => '')) !== text) await writeFile(file, text);
    // Its own binary cache too: sharing pkgcache.bin with the empty status would rebuild it (~2 s) at every switch.
    return ['-o', `Dir::State::status=${file}`, '-o', `Dir::Cache::pkgcache=pkgcache-${id}.bin`];
  }

  /**
   * apt-get's answer depends only on its argv and the lists, so it is kept
   * until the next update: a warm build then runs no apt-get at all
   * (each run costs ~1-2 s of loading apt's cache).
   */
  private async memo<T>(argv: string[], compute: () => Promise<T>): Promise<T> {
    const paths = await this.preparePaths();
    const stamp = await readFile(paths.updateStamp, 'utf8').catch(() => '');
    const key = createHash('sha256')
      .update(JSON.stringify([stamp, argv]))
      .digest('hex')
      .slice(0, 24);
    const file = join(paths.root, 'memo', `${key}.json`);
    const hit = await readFile(file, 'utf8').catch(() => undefined);
    if (hit !== undefined) return JSON.parse(hit) as T;
    const value = await compute();
    await mkdir(join(paths.root, 'memo'), { recursive: true });
    await writeFile(`${file}.tmp-${process.pid}`, JSON.stringify(value));
    await rename(`${file}.tmp-${process.pid}`, file);
    return value;
  }

  /**
   * The implicit refresh before resolve/download. When it fails but lists
   * from an earlier update exist, those are used (with a warning) so a warm
   * cache still builds without the mirror, and the failure is remembered:
   * for FAILED_FETCH_RETRY_SECONDS the mirror is not asked again (a forced
   * update() still asks, and throws when it fails).
   */
  private async ensureUpdated(): Promise<void> {
    if (this.updated) return;
    const r = await this.refresh({ maxAgeSeconds: DAY, force: false, implicit: true });
    if (r.kind === 'stale') this.warnings.push(`${r.failure}; using the package lists from ${r.stamp}`);
    if (r.kind === 'remembered') {
      const retryIn = Math.ceil((FAILED_FETCH_RETRY_SECONDS - r.ageSeconds) / 60);
      this.warnings.push(
        `the package lists were not refreshed: the last try failed ${Math.floor(r.ageSeconds / 60)} min ago (${r.failure}); ` +
          `using the package lists from ${r.stamp}; the mirror is asked again in ${retryIn} min, or now with RAMFORGE_APT_UPDATE=1`,
      );
    }
    this.listsStale = r.kind === 'stale' || r.kind === 'remembered';
    this.updated = true;
  }

  private async preparePaths(): Promise<AptPaths> {
    this.paths ??= await preparePrivateApt(this.cacheDir, this.sources, this.arch);
    return this.paths;
  }

  /** Run apt-get with the private config and turn its failures into actionable errors. */
  private async apt(argv: string[], what: string, cwd?: string): Promise<RunResult> {
    const paths = await this.preparePaths();
    // Exit code 100 is apt's "failed"; accept it here to keep stdout, where
    // apt-get prints the unmet dependencies that explain the failure.
    const res = await run(argv, { env: aptEnv(paths), cwd: cwd ?? paths.emptyDir, okCodes: [0, 100] });
    if (res.exitCode === 0) return res;
    const err = new ProcessError(argv, res.exitCode, null, res.stderr);
    throw this.explainFailure(err, what, res.stdout);
  }

  private explainFailure(e: ProcessError, what: string, stdout: string): Error {
    const where = describeSources(this.sources);
    const f = classifyAptFailure(`${e.stderrTail}\n${stdout}`);
    const search = 'search with: apt-cache search <word> (or apt-cache policy <name>) and check the spelling';
    switch (f.kind) {
      case 'unknown-package':
        return new UserError(`package '${f.name}' is not in ${where}`, { hint: search, cause: e });
      case 'no-candidate':
        return new UserError(`package '${f.name}' is known but has no installable version in ${where} (a virtual or removed package)`, {
          hint: `name a package that provides it; ${search}`,
          cause: e,
        });
      case 'unknown-version':
        return new UserError(`version '${f.version}' of package '${f.name}' is not in ${where}`, {
          hint: `list the available versions with: apt-cache policy ${f.name}`,
          cause: e,
        });
      case 'unresolvable':
        return new UserError(`the packages cannot be installed together from ${where}: ${f.detail}`, {
          hint: 'drop or change the conflicting packages or version pins',
          cause: e,
        });
      case 'fetch-failed':
        return new BuildError(`could not ${what}: fetching ${f.uri} failed: ${f.reason}`, {
          hint: `check that the mirror ${mirrorOf(this.sources, f.uri)} (from ${where}) is reachable (network, proxy), or set \`mirror\` in the spec`,
          cause: e,
        });
      case 'signature':
        return new BuildError(`could not ${what}: apt rejected the repository signature: ${f.detail}`, {
          hint: 'check the Signed-By keyring of the source (install debian-archive-keyring) and the system clock',
          cause: e,
        });
      default:
        return new BuildError(`could not ${what}: ${f.detail || e.message}`, {
          hint: 'run again with --debug to see the apt-get command',
          cause: e,
        });
    }
  }
}

function mirrorOf(sources: AptSource[], uri: string): string {
  for (const s of sources) for (const u of s.uris) if (uri.startsWith(u.replace(/\/+$/, ''))) return u;
  return uri;
}

async function ageSeconds(path: string): Promise<number | undefined> {
  try {
    return (Date.now() - (await stat(path)).mtimeMs) / 1000;
  } catch {
    return undefined;
  }
}

/**
 * Does the cached file carry the index's size and SHA256? A sidecar
 * `<deb>.verified` remembers a successful check for the file's exact
 * (size, mtime, inode), so warm builds do not hash every .deb again; any
 * change to the file (truncation, rewrite) invalidates it.
 */
async function matchesIndex(path: string, uri: PackageUri): Promise<boolean> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return false;
  }
  if (st.size !== uri.size) return false;
  const stamp = `${st.size} ${st.mtimeMs} ${st.ino} ${uri.sha256}\n`;
  const sidecar = `${path}.verified`;
  if ((await readFile(sidecar, 'utf8').catch(() => '')) === stamp) return true;
  if ((await sha256File(path)) !== uri.sha256) {
    await rm(sidecar, { force: true });
    return false;
  }
  await writeFile(sidecar, stamp);
  return true;
}

/** SHA256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * What decides whether the mirror answers, besides the sources (which key the
 * cache directory): the private apt.conf (the host's Acquire proxies are
 * copied into it) and the proxy variables apt-get runs with.
 */
async function networkSettingsKey(paths: AptPaths): Promise<string> {
  const conf = await readFile(paths.configFile, 'utf8').catch(() => '');
  return createHash('sha256')
    .update(conf)
    .update('\0')
    .update(JSON.stringify(aptEnv(paths)))
    .digest('hex')
    .slice(0, 16);
}
