/** ramforge's library API. The CLI (cli/main.ts) is a thin layer over these. */
export { build, type BuildOptions, type BuildResult } from './build.js';
export { loadSpec, validateSpec, type LoadSpecOptions, type LoadedSpec } from './spec/load.js';
export type { BuildSpec } from './spec/normalize.js';
export type { WrittenSpec } from './spec/schema.js';
export {
  defineFlavor,
  type Flavor,
  type InputStage,
  type InputStages,
  type StageEnv,
  type AssembleArgs,
  type Assembly,
  type Member,
  type HostNeeds,
} from './flavors/contract.js';
export type { HostProbe, HostRequirement } from './host/tools.js';
export { makeIso, type MakeIsoOptions, type MakeIsoResult } from './outputs/iso.js';
export { Tree } from './tree/tree.js';
export type { TreeEntry, EntryType, EntryAttrs } from './tree/types.js';
export { cpioStream } from './archive/cpio-writer.js';
export { readCpio } from './archive/cpio-reader.js';
export { listInitramfs, type InitramfsMember } from './archive/initramfs-list.js';
export { writeInitramfs, type InitramfsMemberSpec } from './archive/initramfs.js';
export { compressStream, decompressStream, type Compression } from './archive/compress.js';
export { tarStream } from './archive/tar-writer.js';
export { AptRepo } from './debian/apt.js';
export { readHostSources, applySourceOverride } from './debian/sources.js';
export { extractDeb } from './debian/extract.js';
export { fetchKernel, addKernelModules } from './debian/kernel.js';
export { selectModules } from './debian/modules.js';
export { checkHost } from './host/doctor.js';
export * from './errors.js';
