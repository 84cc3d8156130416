/**
 * The element runner: carries out a resolved set of diskimage-builder
 * elements on a root directory that already holds the Debian base, as
 * disk-image-create does between create_base and the image outputs
 * (reference §1.1, §1.5): the merged hook tree, the phases in DIB's order
 * and place (phases.ts), environment.d sourced by bash before each phase,
 * the in-target phases chrooted with the hook tree read-only at
 * /tmp/in_target.d and /proc, /dev, /dev/pts, read-only /sys mounted
 * (run-phase.ts: in private namespaces, so nothing stays mounted), the
 * host's resolv.conf during the build, and the built-in helper elements
 * (builtin-elements/) last in the elements path.
 */
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostProbeError, UserError } from '../../../errors.js';
import { findTool, run, run as runCmd } from '../../../exec/run.js';
import { readHostSources } from '../../../debian/sources.js';
import { withCacheLock } from '../../../debian/cache-lock.js';
import { hostRelease, sourcesForRelease } from '../../../debian/mmdebstrap.js';
import { elementEnvironment, phaseEnvironment } from './environment.js';
import { applyHookPlan, planHookTree, type HookPlan } from './hooks.js';
import { DATA_DIR, mergeSvcMaps, writeAptData, writeLegacyPackageInstalls, writePackageInstalls, writeSvcMap } from './helper-data.js';
import { writeHelperRuntime } from './helper-runtime.js';
import { readLegacyLists, squashPackageInstalls } from './package-installs.js';
import { PHASES, REFUSED_PHASES } from './phases.js';
import { readPkgMap } from './pkg-map.js';
import { resolveElements, type Element } from './resolve.js';
import { RUNTIME_DIR, runPhase, type ScriptTiming } from './run-phase.js';
import { asTreeRoot, ROOTLESS_HINT, treeAccess, userFlags, type TreeAccess } from './userns.js';
import { listEnvironmentFiles, listPhaseScripts } from './run-parts.js';

/** The built-in helper elements (dpkg, package-installs, ...): always last in the elements path. */
export const BUILTIN_ELEMENTS_DIR = fileURLToPath(new URL('../builtin-elements/', import.meta.url)).replace(/\/$/, '');

export interface RunElementsOptions {
  /** The target root directory; it already holds the Debian base, owned by real uids. */
  root: string;
  /** The user's and the flavor's element names (dependencies and provides are resolved here). */
  elements: string[];
  /** Search order, first wins; the built-in helper elements are appended last. */
  elementsPath: string[];
  /** Variables for the elements, already merged (the spec wins over the process environment). */
  environment: Record<string, string>;
  /** Debian release (codename) of the root. */
  release: string;
  /** Debian architecture, e.g. 'amd64'. */
  arch: string;
  imageName: string;
  /** Private scratch space: TMP_BUILD_DIR and the hook tree are made inside. */
  workDir: string;
  /** ramforge's cache root; DIB_IMAGE_CACHE is under it unless the environment sets it. */
  cacheDir: string;
  /** SOURCE_DATE_EPOCH given to the scripts. */
  epoch: number;
  /**
   * Host path of the Node binary in-chroot helpers run on (the pkg-map
   * command; helper-runtime.ts): the build's pinned runtime, bound read-only
   * for in-target phases, never copied into the image. Absent: pkg-map fails.
   */
  node?: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface RunElementsResult {
  /** The final resolved set, in build order. */
  elements: string[];
  /** Every script run, in order, with its time. */
  scripts: ScriptTiming[];
}

/** Refuse what a ramdisk build cannot do (block-device.d), before anything runs. */
export function refuseUnsupported(elements: readonly Element[]): void {
  for (const e of elements)
    for (const [dir, why] of Object.entries(REFUSED_PHASES))
      if (existsSync(join(e.path, dir)))
        throw new UserError(`element ${e.name} has ${dir} (${e.path}/${dir}): ${why}`, {
          hint: `remove element ${e.name} from the build (or its ${dir}); the dib flavor makes an initramfs, not a disk image`,
        });
}

/**
 * Why the runner cannot run here, or undefined: as root it chroots and
 * mounts directly; as an ordinary user it does so in a user namespace
 * (userns.ts), which needs unshare, newuidmap and a subordinate range.
 */
export function rootProblem(access: TreeAccess = treeAccess()): string | undefined {
  return access.mode === 'none' ? access.reason : undefined;
}

/** The host probe of the dib flavor: checked with the host tools, before any slow work. */
export const RUNNER_ROOT_PROBE = {
  what: 'dib element runner',
  check: async (): Promise<string | undefined> => rootProblem(),
  hint: ROOTLESS_HINT,
};

/** Root over the build tree, real or in a user namespace; else the one error naming both fixes. */
export function requireTreeRoot(access: TreeAccess = treeAccess()): Exclude<TreeAccess, { mode: 'none' }> {
  if (access.mode === 'none')
    throw new HostProbeError([{ what: RUNNER_ROOT_PROBE.what, problem: access.reason, hint: RUNNER_ROOT_PROBE.hint }]);
  return access;
}

/**
 * What can be judged from the element directories alone, before any slow
 * work (the flavor calls it before the Debian base is made): the resolved
 * set (unknown element, double provider, ...), block-device.d refused, no
 * hook name in two elements. Throws the same UserErrors runElements would.
 */
export function preflightElements(elements: readonly string[], elementsPath: readonly string[]): Element[] {
  const resolved = resolveElements(elements, [...elementsPath, BUILTIN_ELEMENTS_DIR]).elements;
  refuseUnsupported(resolved);
  planHookTree(resolved);
  return resolved;
}

/** Which element a path of the hook tree came from (links made by install-types point into the element's own dirs). */
function elementFinder(plan: HookPlan, hooks: string): (rel: string) => string {
  const owner = new Map(plan.map((op) => [op.dest, op.element]));
  return (rel) => {
    const direct = owner.get(rel);
    if (direct) return direct;
    try {
      const target = readlinkSync(join(hooks, rel));
      const dir = rel.slice(0, rel.lastIndexOf('/'));
      return owner.get(target.startsWith('/') ? target.slice(hooks.length + 1) : `${dir}/${target}`) ?? '(unknown)';
    } catch {
      return '(written during the build)';
    }
  };
}

/** Swap in the host's resolv.conf for the build; the returned function puts the root's back (DIB: create_base, finalise_base). */
function useHostResolvConf(root: string): () => void {
  const conf = join(root, 'etc/resolv.conf');
  const orig = join(root, 'etc/resolv.conf.ORIG');
  const had = existsSync(conf) || isLink(conf);
  if (had) renameSync(conf, orig);
  copyFileSync('/etc/resolv.conf', conf);
  return () => {
    // An element that made it a link (resolvconf, systemd-resolved) keeps its choice, as in DIB.
    if (isLink(conf)) return rmSync(orig, { force: true });
    if (existsSync(orig) || isLink(orig)) renameSync(orig, conf);
    else if (!had) rmSync(conf, { force: true });
  };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export { mountsUnder } from '../../../host/mounts.js';
import { mountsUnder } from '../../../host/mounts.js';

/** Carry out the elements on `opts.root`. */
export async function runElements(opts: RunElementsOptions): Promise<RunElementsResult> {
  const access = requireTreeRoot();
  const unshare = findTool('unshare');
  const chroot = findTool('chroot');
  if (!unshare || !chroot)
    throw new HostProbeError([
      { what: 'dib element runner', problem: 'unshare or chroot not found', hint: 'apt-get install -y util-linux coreutils' },
    ]);
  const root = resolvePath(opts.root);
  for (const d of ['usr/bin', 'proc', 'dev', 'sys', 'tmp', 'etc'])
    if (!existsSync(join(root, d)))
      throw new UserError(`${root} is not a Debian root (no /${d})`, { hint: 'the element runner needs the extracted Debian base first' });

  const elementsPath = [...opts.elementsPath, BUILTIN_ELEMENTS_DIR];
  const resolution = resolveElements(opts.elements, elementsPath);
  for (const w of resolution.warnings) opts.log(`warning: ${w}`);
  const elements = resolution.elements;
  refuseUnsupported(elements);
  opts.log(`elements: ${elements.map((e) => e.name).join(' ')}`);

  // TMP_BUILD_DIR as disk-image-create lays it out; mnt is the root itself (a link for scripts that use $TMP_BUILD_DIR/mnt).
  const buildDir = join(resolvePath(opts.workDir), 'dib_build');
  const hooks = join(buildDir, 'hooks');
  const imageDir = join(buildDir, 'image');
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(imageDir, { recursive: true });
  symlinkSync(root, join(buildDir, 'mnt'));

  const plan = planHookTree(elements);
  applyHookPlan(plan, hooks, { owners: access.mode === 'root' });
  copyFileSync(join(RUNTIME_DIR, 'run-parts.bash'), join(hooks, 'ramforge-run-parts'));
  await writeHelperRuntime(hooks, opts.node);
  const target = { distro: 'debian', release: opts.release };
  const pkgMaps = new Map(elements.map((e) => [e.name, readPkgMap(e.path)]));
  writeSvcMap(hooks, mergeSvcMaps(elements, 'debian'));
  writeAptData(hooks, sourcesForRelease(await readHostSources(), hostRelease(), opts.release));
  const elementOf = elementFinder(plan, hooks);

  // Outside scripts call sudo (sudo -E, sudo tee, ...): as root a missing sudo is a pass-through; in the
  // user namespace always (they are root there already, and the host's setuid sudo cannot work there).
  const extraPath = findTool('sudo') && access.mode === 'root' ? undefined : join(RUNTIME_DIR, 'bin');
  const imageCache = opts.environment.DIB_IMAGE_CACHE ?? join(opts.cacheDir, 'dib', 'image-cache');
  mkdirSync(imageCache, { recursive: true });
  const hostPath = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  const base = elementEnvironment({
    environment: opts.environment,
    release: opts.release,
    arch: opts.arch,
    imageName: opts.imageName,
    elements,
    elementsPath,
    paths: { buildDir, hooks, mount: root, imageDir },
    imageCache,
    epoch: opts.epoch,
  });
  for (const k of ['LANG', 'HOME', ...Object.keys(process.env).filter((k) => /^(https?|no|all)_proxy$/i.test(k))])
    if (process.env[k] !== undefined && base[k] === undefined) base[k] = process.env[k] as string;

  const scripts: ScriptTiming[] = [];
  let aptCache: { archives: string; lists: string } | undefined;
  let restoreResolv: (() => void) | undefined;
  const inTarget = join(root, 'tmp/in_target.d');
  try {
    for (const phase of PHASES) {
      const dir = join(hooks, phase.name);
      if (phase.name === 'extra-data.d') restoreResolv = useHostResolvConf(root);
      if (phase.name === 'pre-install.d') {
        // DIB's package-installs-squash runs at the end of extra-data.d, with environment.d sourced: so here.
        const env = await sourcedEnvironment(hooks, phaseEnvironment(base, phase, { root, hostPath, extraPath }));
        const squashed = squashPackageInstalls(
          elements.map((e) => e.name),
          elementsPath,
          env,
        );
        const lists = writePackageInstalls(hooks, squashed, pkgMaps, target);
        for (const [p, l] of Object.entries(lists))
          if (l.install.length || l.uninstall.length)
            opts.log(`package-installs ${p}: install ${l.install.join(' ') || '-'}; uninstall ${l.uninstall.join(' ') || '-'}`);
        // DIB's deprecated package-installs-<element> lists, read at the start of the same phases.
        const legacy = readLegacyLists(hooks, pkgMaps, target);
        writeLegacyPackageInstalls(hooks, legacy);
        for (const l of legacy)
          opts.log(
            `package-installs ${l.file} (deprecated list, read as DIB does; package-installs.yaml is the current form): install ${l.install.join(' ') || '-'}; uninstall ${l.uninstall.join(' ') || '-'}`,
          );
      }
      if (phase.name === 'extra-data.d') aptCache = aptCacheDirs(root, imageCache, opts.arch, opts.environment);
      if (!existsSync(dir)) continue;
      const listing = listPhaseScripts(dir);
      const envFiles = listEnvironmentFiles(join(hooks, 'environment.d'));
      opts.log(`${phase.name}: ${listing.scripts.join(' ') || '(no scripts)'}${phase.chroot ? ' (in the chroot)' : ''}`);
      if (phase.chroot) mkdirSync(inTarget);
      try {
        const exec = () =>
          runPhase({
            phase,
            root,
            hooks,
            envFiles,
            scripts: listing.scripts,
            env: phaseEnvironment(base, phase, { root, hostPath, extraPath }),
            unshare,
            userFlags: userFlags(access),
            ...(aptCache ? { aptCache } : {}),
            ...(opts.node !== undefined ? { node: opts.node } : {}),
            elementOf,
            log: opts.log,
            signal: opts.signal,
          });
        // apt in two builds' chroots must not share the bound cache at once (its locks do not see across them).
        const useCache = phase.chroot && aptCache !== undefined;
        scripts.push(...(useCache ? await withCacheLock(join(imageCache, 'apt'), exec) : await exec()));
      } finally {
        if (phase.chroot) rmdirSync(inTarget);
      }
    }
  } finally {
    restoreResolv?.();
    const left = mountsUnder(root);
    // Cannot happen (the mounts live in the phases' namespaces); if it ever does, say so loudly and undo it.
    for (const m of left.reverse()) await run(['umount', '--lazy', m], { noInterrupt: true }).catch(() => undefined);
    if (left.length) opts.log(`warning: unmounted leftover mounts under ${root}: ${left.join(', ')}`);
  }
  await finaliseBase(root, access, opts.signal);
  opts.log(profileLine(scripts));
  rmSync(buildDir, { recursive: true, force: true });
  return { elements: elements.map((e) => e.name), scripts };
}

/**
 * The shared apt cache of in-target phases (DIB: dpkg's root.d/50-shared-apt-cache,
 * DIB_APT_LOCAL_CACHE, default on): .debs by architecture, lists by the
 * sources the OS element's root.d wrote (apt-get update drops the lists of
 * sources it does not have, so each set of sources gets its own).
 */
function aptCacheDirs(root: string, imageCache: string, arch: string, env: Record<string, string>) {
  if (env.DIB_APT_LOCAL_CACHE === '0') return undefined;
  let sources: string;
  try {
    sources = readFileSync(join(root, 'etc/apt/sources.list.d/ramforge-build.sources'), 'utf8');
  } catch {
    return undefined; // another OS element: apt is its business
  }
  const key = createHash('sha256').update(`${arch}\n${sources}`).digest('hex').slice(0, 16);
  const dirs = { archives: join(imageCache, 'apt', `archives-${arch}`), lists: join(imageCache, 'apt', `lists-${key}`) };
  mkdirSync(join(dirs.archives, 'partial'), { recursive: true });
  mkdirSync(join(dirs.lists, 'partial'), { recursive: true });
  return dirs;
}

/** One line in the spirit of dib-run-parts' PROFILING table: the count, the total, the slowest scripts. */
export function profileLine(scripts: readonly ScriptTiming[]): string {
  const total = scripts.reduce((a, s) => a + s.seconds, 0);
  const slowest = [...scripts]
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 3)
    .map((s) => `${s.phase}/${s.script} ${s.seconds.toFixed(1)} s`);
  return `element scripts: ${scripts.length} in ${total.toFixed(1)} s${slowest.length ? `; slowest: ${slowest.join(', ')}` : ''}`;
}

/** What DIB's finalise_base does after cleanup.d (resolv.conf aside): an empty /tmp, empty log files, no /root logs. */
async function finaliseBase(root: string, access: TreeAccess, signal: AbortSignal): Promise<void> {
  const opts = { signal };
  const run = (argv: string[], o: { signal: AbortSignal }) => runCmd(asTreeRoot(access, argv), o);
  await run(['find', join(root, 'tmp'), '-mindepth', '1', '-maxdepth', '1', '-exec', 'rm', '-rf', '--one-file-system', '{}', '+'], opts);
  if (existsSync(join(root, 'var/log')))
    await run(['find', join(root, 'var/log'), '-type', 'f', '-exec', 'truncate', '-s', '0', '{}', '+'], opts);
  if (existsSync(join(root, 'root'))) await run(['find', join(root, 'root'), '-name', '*.log', '-type', 'f', '-delete'], opts);
}

/**
 * The exported variables after bash sources environment.d (what a phase's
 * scripts see): package-installs' `when` reads them. Sourced by
 * run-parts.bash's own source_environment, so scoped as in a phase (DIB's
 * package-installs-squash is a script run after dib-run-parts sourced them).
 */
export async function sourcedEnvironment(hooks: string, env: Record<string, string>): Promise<Record<string, string>> {
  const envDir = join(hooks, 'environment.d');
  const files = listEnvironmentFiles(envDir);
  const { stdout } = await run(
    [
      '/bin/bash',
      '-c',
      'exec 3>/dev/null; _run_parts=$1 _env_dir=$2; shift 2; _env_files=("$@"); source "$_run_parts"; source_environment </dev/null >&2; env -0',
      'ramforge-environment',
      join(RUNTIME_DIR, 'run-parts.bash'),
      envDir,
      ...files,
    ],
    { env },
  );
  const out: Record<string, string> = {};
  for (const kv of stdout.split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export { DATA_DIR };
