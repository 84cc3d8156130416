/** ramforge's library API. The CLI (cli/main.ts) is a thin layer over these. */
export { build, type BuildOptions, type BuildResult } from './build.js';
export { loadSpec, validateSpec, type LoadSpecOptions, type LoadedSpec } from './spec/load.js';
export type { BuildSpec } from './spec/normalize.js';
export { makeIso } from './outputs/iso.js';
export { listInitramfs } from './archive/cpio-reader.js';
export { checkHost } from './host/doctor.js';
export * from './errors.js';
