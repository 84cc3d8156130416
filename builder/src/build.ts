/**
 * build(): the library entry point behind `ramforge build`. Loads and checks
 * the spec, loads its flavor, runs the pipeline in a private workspace
 * beside output/ (inside it when output/ is a mount point of its own: see
 * workspaceRoot), and publishes output/<name>/ only when every stage
 * succeeded.
 */
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { loadSpec } from './spec/load.js';
import type { SpecIssue } from './errors.js';
import { explainFsError, InterruptedError } from './errors.js';
import { OWNER_FILE, currentOwner, sweepStaleWorkspaces, workspaceRoot } from './workspace.js';
import { defaultCacheDir } from './defaults.js';
import type { Artifact } from './pipeline/context.js';
import { runPipeline, type RendererName } from './pipeline/run.js';
import { publishArtifacts } from './pipeline/stages/publish-artifacts.js';
import { loadFlavor } from './flavors/registry.js';
import type { Flavor } from './flavors/contract.js';
import type { BuildSpec } from './spec/normalize.js';

export interface BuildOptions {
  cwd: string;
  /** YAML spec file (relative to cwd). Without it: the default tinyipa build. */
  spec?: string;
  /** Values from flags, merged over the spec. */
  overrides?: Record<string, unknown>;
  /** Output root; artifacts go to <output>/<name>/. Default <cwd>/output. */
  output?: string;
  /** Install missing host packages with apt-get (root only). */
  installHostTools?: boolean;
  keepWorkspace?: boolean;
  renderer?: RendererName;
  log?: (line: string) => void;
  signal?: AbortSignal;
  cacheDir?: string;
  /** Validate and normalise only. */
  dryRun?: boolean;
  /** Reuse compressed initramfs members cached by earlier builds (default true). */
  reuseMembers?: boolean;
  /** Build with this flavor instead of the spec's (tests: a flavor defined outside flavors/). */
  flavor?: Flavor<any>;
}

export interface BuildResult {
  name: string;
  spec: BuildSpec;
  warnings: SpecIssue[];
  /** output/<name>/, absolute. Undefined for a dry run. */
  outputDir: string | undefined;
  artifacts: Artifact[];
  timings: Record<string, number>;
  seconds: number;
  workspace?: string;
}

/**
 * Sets the process's umask to 022 (and leaves it so): files and directories
 * the build creates without an explicit mode (the kernel modules' staging,
 * depmod's indexes, ...) reach the image with their modes, which must not
 * depend on the caller's umask (a user's 0002 would give 0775 directories).
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  // process.umask() cannot be set in a worker thread; a build there keeps the process's.
  if (isMainThread) process.umask(0o022);
  const { spec, warnings } = await loadSpec({ file: opts.spec, overrides: opts.overrides, cwd: opts.cwd });
  const log = opts.log ?? (() => {});
  for (const w of warnings) log(`warning: ${w.path}: ${w.message}${w.fix ? ` (${w.fix})` : ''}`);
  if (opts.dryRun) return { name: spec.name, spec, warnings, outputDir: undefined, artifacts: [], timings: {}, seconds: 0 };
  const flavor = opts.flavor ?? (await loadFlavor(spec.flavor));

  const outputRoot = resolve(opts.cwd, opts.output ?? 'output');
  const { root: workRoot, insideOutput } = await workspaceRoot(outputRoot);
  let workspace: string;
  const owner = await currentOwner({ keep: opts.keepWorkspace === true, output: join(outputRoot, spec.name) });
  try {
    await mkdir(workRoot, { recursive: true });
    const swept = await sweepStaleWorkspaces(workRoot, owner);
    for (const dir of swept.removed) log(`removed ${dir}: the workspace of a build that was stopped`);
    for (const { dir, output } of swept.held)
      log(
        `warning: ${dir} holds previous/, an output tree moved aside by a build killed while publishing: move it back to ${output ?? 'its output directory'} if that is missing, then remove ${dir}`,
      );
    workspace = await mkdtemp(join(workRoot, `${spec.name}-`));
    await writeFile(join(workspace, OWNER_FILE), JSON.stringify(owner) + '\n');
    await mkdir(join(workspace, 'staging'));
  } catch (e) {
    throw explainFsError(e, `creating the workspace under ${workRoot}`);
  }
  const staging = join(workspace, 'staging');
  const signal = opts.signal ?? new AbortController().signal;
  let ok = false;
  const kept = (): boolean => !ok && opts.keepWorkspace === true;
  try {
    const env = { spec, cacheDir: opts.cacheDir ?? defaultCacheDir(), workspace, log, signal };
    const r = await runPipeline(flavor, env, {
      staging,
      installHostTools: opts.installHostTools ?? false,
      reuseMembers: opts.reuseMembers ?? true,
      renderer: opts.renderer ?? 'silent',
    });
    // The last moment to stop: once publishing starts, it finishes.
    signal.throwIfAborted();
    const outputDir = await publishArtifacts({ staging, workspace, outputRoot, name: spec.name });
    ok = true;
    return {
      name: spec.name,
      spec,
      warnings,
      outputDir,
      artifacts: r.artifacts,
      timings: r.timings,
      seconds: Math.round(performance.now() - t0) / 1000,
    };
  } catch (e) {
    // An interrupt's consequences (a program killed, a stage stopped) are reported as the interrupt.
    const r: unknown = signal.reason;
    if (signal.aborted && r instanceof InterruptedError) {
      const where = join(outputRoot, spec.name);
      throw new InterruptedError(
        r.signalName,
        r.signalNumber,
        `stopped; nothing was published (${where} is as it was)${kept() ? `; workspace kept at ${workspace}` : ''}`,
      );
    }
    throw explainFsError(e, 'building');
  } finally {
    if (!kept()) {
      // A failure here must not hide the build's own result or error: say so and go on.
      await rm(workspace, { recursive: true, force: true }).catch((e: unknown) =>
        log(`warning: could not remove the workspace ${workspace}: ${(e as Error).message}`),
      );
      // Inside output/ (a mount point), the empty .workspace goes too: output/ is left as it was.
      if (insideOutput) await rmdir(workRoot).catch(() => undefined);
    } else log(`workspace kept at ${workspace}`); // its owner file says keep: no later build sweeps it
  }
}
