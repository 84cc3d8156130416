/**
 * What a flavor is: a folder under flavors/<name>/ whose index.ts exports
 * `flavor`, a value of the type below. The pipeline (pipeline/run.ts) runs
 *
 *   check host (common tools + flavor.host) → flavor.inputs (concurrently)
 *   → flavor.assemble → the spec's own layers → common tail
 *   (initramfs from the members, kernel, ISO, manifest, publish)
 *
 * Whatever the flavor computes on the way (packages, runtimes, bundles)
 * passes from its input stages to its assemble as `inputs`, typed by the
 * flavor: none of it lands in a shared context.
 */
import type { Compression } from '../archive/compress.js';
import type { Tree } from '../tree/tree.js';
import type { TreeEntry } from '../tree/types.js';
import type { HostProbe, HostRequirement } from '../host/tools.js';
import type { BuildSpec } from '../spec/normalize.js';

/** What every stage may use: read-only, the same for the whole build. */
export interface StageEnv {
  readonly spec: BuildSpec;
  /** ramforge's cache root (downloads, unpacked kernels, compressed members). */
  readonly cacheDir: string;
  /** Scratch space private to this build. */
  readonly workspace: string;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

/** One input stage: shown as its own task, timed under `name` in the manifest. */
export interface InputStage<T> {
  name: string;
  title: string;
  run(env: StageEnv): Promise<T>;
}

/** One input stage per key of the flavor's inputs; they run concurrently. */
export type InputStages<I> = { [K in keyof I]: InputStage<I[K]> };

/** The host a flavor needs for this spec, beyond the common build tools. */
export interface HostNeeds {
  /** Rows of the host tool table (host/tools.ts): installed with apt-get when missing. */
  tools: HostRequirement[];
  /** Conditions no package fixes (e.g. "a Docker engine answers at DOCKER_HOST"). */
  probes: HostProbe[];
}

/**
 * A member's own compression: stored ('none'), or per spec method a level of
 * the member's choosing, or 'lz4' (legacy frames, HC level 9) in its place:
 * larger, but the kernel unpacks it faster at every boot.
 */
export type MemberCompression = 'none' | Partial<Record<Exclude<Compression, 'none'>, number | 'lz4'>>;

/** An initramfs member, in boot order. */
export type Member =
  /**
   * A slice of the build tree, packed as cpio and compressed with the
   * spec's compression: the entries `select` claims (the first member
   * whose select says yes wins); a tree member without `select` takes
   * what no member claims (at most one; without one, site takes them).
   */
  | {
      kind: 'tree';
      name: string;
      select?: (e: TreeEntry) => boolean;
      /**
       * How this member departs from the spec's compression (one knob):
       * 'none' stores it uncompressed whatever the spec says (content that
       * is compressed already: a container.tar.gz); levels per method use
       * the spec's method at the level given for it, where the default
       * (zstd 19, xz 9) costs minutes on a large member (a whole systemd
       * root) and the flavor trades a few MB for a build inside its time
       * target.
       */
      compression?: MemberCompression;
    }
  /** A file appended as it is (already a compressed cpio: a vendor initramfs, microcode). */
  | { kind: 'verbatim'; name: string; file: string };

export interface Assembly {
  /** The kernel image to ship, and its release (`uname -r`). */
  kernel: { file: string; version: string };
  /**
   * The members the flavor contributes, in boot order. The common tail
   * appends `site` (the spec's own layers, layer names 'site:...').
   */
  members: Member[];
  /** Flavor facts for manifest.json (packages, runtime versions, ...); `kernel` merges with the kernel's version. */
  facts: Record<string, unknown>;
}

export interface AssembleArgs extends StageEnv {
  /** The build tree: the flavor fills it; the spec's own layers go on top after assemble returns. */
  tree: Tree;
}

export interface Flavor<I = Record<string, unknown>> {
  readonly name: string;
  host(spec: BuildSpec): HostNeeds;
  inputs(spec: BuildSpec): InputStages<I>;
  assemble(inputs: I, args: AssembleArgs): Promise<Assembly>;
}

/** Type the `flavor` export of a flavor folder (checks the inputs against assemble's). */
export function defineFlavor<I>(f: Flavor<I>): Flavor<I> {
  return f;
}
