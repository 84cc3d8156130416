/**
 * One BuildContext per build: the spec, the workspace paths, the log, the
 * abort signal, and the typed values each stage hands on (each set by
 * exactly one stage).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BuildSpec } from '../spec/normalize.js';
import type { Tree } from '../tree/tree.js';
import type { AptRepo, DownloadedPackage } from '../debian/apt.js';
import type { NodeRuntime } from '../node-runtime.js';
import type { AgentBundle } from '../agent-bundle.js';

export interface KernelInfo {
  version: string;
  vmlinuz: string;
  modulesDir: string;
  package: DownloadedPackage;
  modules: { count: number; bytes: number };
}

export interface Artifact {
  kind: 'kernel' | 'initramfs' | 'iso' | 'uki' | 'manifest' | 'checksums' | 'tar';
  /** File name inside output/<name>/. */
  file: string;
  size: number;
  sha256?: string;
}

export interface BuildContext {
  readonly spec: BuildSpec;
  readonly cwd: string;
  /** output/ (artifacts land in output/<name>/). */
  readonly outputRoot: string;
  /** Private to this build, on the same filesystem as outputRoot (rename!). */
  readonly workspace: string;
  /** Finished artifacts wait here until every stage succeeded. */
  readonly staging: string;
  readonly cacheDir: string;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
  readonly installHostTools: boolean;
  /** Reuse compressed initramfs members from the cache (false: compress everything afresh). */
  readonly reuseMembers: boolean;
  apt?: AptRepo;
  packages?: DownloadedPackage[];
  kernel?: KernelInfo;
  node?: NodeRuntime;
  agent?: AgentBundle;
  tree?: Tree;
  /** Unpacked size of the tree, for the manifest and the benchmark. */
  treeStats?: { files: number; dirs: number; bytes: number };
  artifacts: Artifact[];
  /** Stage name → seconds. */
  timings: Record<string, number>;
  /** Debian packages the host check installed. */
  hostInstalled: string[];
  /** Versions of host-provided boot loaders that went into the ISO. */
  bootloaders: Record<string, string>;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RAMFORGE_CACHE) return env.RAMFORGE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ramforge');
}

export function artifactPath(ctx: BuildContext, kind: 'kernel' | 'initramfs' | 'iso'): string {
  return join(ctx.staging, `${ctx.spec.name}.${kind}`);
}
