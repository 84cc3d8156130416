/**
 * What the common tail of the pipeline hands on: the artifacts it wrote
 * and where they wait until published.
 */
import { join } from 'node:path';

// The cache root is declared in defaults.ts; re-exported for existing callers.
export { defaultCacheDir } from '../defaults.js';

export interface Artifact {
  kind: 'kernel' | 'initramfs' | 'iso' | 'manifest' | 'checksums' | 'tar';
  /** File name inside output/<name>/. */
  file: string;
  size: number;
  sha256?: string;
}

/** Where the build's workspace and finished files are. */
export interface Workspace {
  /** Private to this build, on the same filesystem as outputRoot (rename!). */
  readonly dir: string;
  /** Finished artifacts wait here until every stage succeeded. */
  readonly staging: string;
}

export type ArtifactKind = 'kernel' | 'initramfs' | 'iso';

export function artifactFile(name: string, kind: ArtifactKind): string {
  return `${name}.${kind}`;
}

export function artifactPath(staging: string, name: string, kind: ArtifactKind): string {
  return join(staging, artifactFile(name, kind));
}
