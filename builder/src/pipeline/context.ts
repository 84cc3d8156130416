/** The artifacts the common tail of the pipeline writes, and where they wait until published. */
import { join } from 'node:path';

// The cache root is declared in defaults.ts; re-exported for existing callers.
export { defaultCacheDir } from '../defaults.js';

export interface Artifact {
  kind: 'kernel' | 'initramfs' | 'iso' | 'uki' | 'manifest' | 'checksums' | 'tar';
  /** File name inside output/<name>/. */
  file: string;
  size: number;
  sha256?: string;
}

/** output/<name>/<name>.<kind>, while it waits in the staging directory. */
export function artifactPath(staging: string, name: string, kind: 'kernel' | 'initramfs' | 'iso'): string {
  return join(staging, `${name}.${kind}`);
}
