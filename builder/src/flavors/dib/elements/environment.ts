/**
 * The environment element scripts get (reference §1.6): what
 * disk-image-create and lib/common-functions export, computed from the
 * build's inputs. Pure: the runner adds the per-phase parts (TARGET_ROOT,
 * PATH, HOME) with `phaseEnvironment`.
 */
import YAML from 'yaml';
import { chrootPath, type Phase } from './phases.js';

export interface ElementEnvInput {
  /** The merged variables (spec over the caller's environment). */
  environment: Readonly<Record<string, string>>;
  release: string;
  arch: string;
  imageName: string;
  /** The resolved elements, in build order, with their directories. */
  elements: readonly { name: string; path: string }[];
  /** The full search path, built-in elements last. */
  elementsPath: readonly string[];
  paths: { buildDir: string; hooks: string; mount: string; imageDir: string };
  imageCache: string;
  epoch: number;
}

/**
 * Defaults a caller may override (DIB: lib/common-defaults and the helper
 * elements' environment.d). DIB_DEBUG_TRACE is 0 because many upstream
 * scripts use `${DIB_DEBUG_TRACE:-1}` and would trace every line otherwise.
 */
const DEFAULTS: Record<string, string> = {
  DIB_DEBUG_TRACE: '0',
  DIB_OFFLINE: '',
  DIB_DEFAULT_INSTALLTYPE: 'source',
  DIB_CHECKSUM: '0',
};

/** What the build itself fixes: a caller's value would describe another build, so these win. */
function fixed(i: ElementEnvInput): Record<string, string> {
  return {
    ARCH: i.arch,
    DISTRO_NAME: 'debian',
    DIB_RELEASE: i.release,
    DIB_INIT_SYSTEM: 'systemd',
    DIB_PYTHON_VERSION: '3',
    IMAGE_NAME: i.imageName,
    IMAGE_ELEMENT: i.elements.map((e) => e.name).join(' '),
    IMAGE_ELEMENT_YAML: imageElementYaml(i.elements),
    'BASH_FUNC_get_image_element_array%%': imageElementArrayFunction(i.elements),
    ELEMENTS_PATH: i.elementsPath.join(':'),
    DIB_ARGS: i.elements.map((e) => e.name).join(' '),
    TMP_BUILD_DIR: i.paths.buildDir,
    TMP_IMAGE_DIR: i.paths.imageDir,
    TMP_HOOKS_PATH: i.paths.hooks,
    TMP_MOUNT_PATH: i.paths.mount,
    LC_ALL: 'C',
    SOURCE_DATE_EPOCH: String(i.epoch),
  };
}

/** The variables every phase gets (before the per-phase ones). */
export function elementEnvironment(i: ElementEnvInput): Record<string, string> {
  return { ...DEFAULTS, DIB_IMAGE_CACHE: i.imageCache, ...i.environment, ...fixed(i) };
}

/** DIB's IMAGE_ELEMENT_YAML: a YAML map element name → its directory. */
export function imageElementYaml(elements: readonly { name: string; path: string }[]): string {
  return YAML.stringify(Object.fromEntries(elements.map((e) => [e.name, e.path])));
}

/**
 * The body of DIB's exported bash function get_image_element_array, in the
 * form bash imports from the environment (`BASH_FUNC_<name>%%`): it prints
 * `[name]=path ...` for `eval declare -A image_elements=($(get_image_element_array))`.
 */
export function imageElementArrayFunction(elements: readonly { name: string; path: string }[]): string {
  const pairs = elements.map((e) => `[${e.name}]=${e.path} `).join('');
  return `() {  echo "${pairs.replace(/["\\$`]/g, '\\$&')}"\n}`;
}

/**
 * The environment of one phase: TARGET_ROOT for root.d and cleanup.d (only
 * them, as DIB), and for in-chroot phases DIB's run_in_target changes:
 * HOME=/root, TMPDIR and VIRTUAL_ENV unset, the usual directories added to
 * PATH. Outside phases get `extraPath` first (the sudo pass-through).
 */
export function phaseEnvironment(
  base: Readonly<Record<string, string>>,
  phase: Phase,
  o: { root: string; hostPath: string; extraPath?: string },
): Record<string, string> {
  const env: Record<string, string> = { ...base };
  delete env.TARGET_ROOT;
  if (phase.targetRoot) env.TARGET_ROOT = o.root;
  if (phase.chroot) {
    delete env.TMPDIR;
    delete env.VIRTUAL_ENV;
    env.HOME = '/root';
    env.PATH = chrootPath(o.hostPath);
  } else {
    const sbin = '/usr/local/sbin:/usr/sbin:/sbin';
    env.PATH = [o.extraPath, o.hostPath, sbin].filter((p) => p).join(':');
  }
  return env;
}
