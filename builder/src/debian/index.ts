/**
 * Debian packages and the kernel: the host's apt sources, apt with a private
 * state directory and .deb cache, extraction into the Tree, and the kernel
 * with a chosen, depmod-indexed subset of its modules.
 */
export {
  readHostSources,
  applySourceOverride,
  describeSources,
  parseDeb822Sources,
  parseOneLineSources,
  type AptSource,
  type SourceOverride,
} from './sources.js';
export {
  AptRepo,
  SCRIPT_ONLY_PACKAGES,
  sha256File,
  type AptRepoOptions,
  type ResolveOptions,
  type ResolvedPackage,
  type DownloadedPackage,
} from './apt.js';
export { extractDeb, pruneLayer, DEFAULT_PRUNE, DEFAULT_PRUNE_KEEP, type ExtractOptions } from './extract.js';
export { fetchKernel, addKernelModules, type Kernel } from './kernel.js';
export { selectModules, readModuleIndex, DEFAULT_MODULE_SETS, MODULE_SETS, type ModuleSet } from './modules.js';
export {
  debianBase,
  extractBase,
  hostRelease,
  type BaseRequest,
  type BaseVariant,
  type DebianBase,
} from './mmdebstrap.js';
