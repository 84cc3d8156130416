/**
 * The build, top to bottom, and the only place that knows about listr2:
 *
 *   check host → the flavor's input stages (concurrently) → assemble
 *   (flavor, then the spec's own layers) → initramfs → kernel → ISO →
 *   UKI → manifest
 *
 * Each stage is a function of its arguments; what one stage hands the
 * next is a local variable here, set by exactly one task (listr runs them
 * in this order and stops at the first failure). Stages never import
 * listr2, so the library runs the same without a terminal.
 */
import { join } from 'node:path';
import { Listr, ListrLogger, PRESET_TIMESTAMP, ProcessOutput, type ListrTask } from 'listr2';
import type { Flavor, InputStage, StageEnv } from '../flavors/contract.js';
import type { InitramfsResult } from '../archive/initramfs.js';
import { artifactPath, type Artifact } from './context.js';
import { checkBuildHost } from './stages/check-build-host.js';
import { assembleRootfs, type AssembledRootfs } from './stages/assemble-rootfs.js';
import { packInitramfs } from './stages/pack-initramfs.js';
import { writeKernel } from './stages/write-kernel.js';
import { writeIso } from './stages/write-iso.js';
import { writeUki } from './stages/write-uki.js';
import { writeManifest } from './stages/write-manifest.js';

export type RendererName = 'default' | 'simple' | 'silent';

export interface PipelineOptions {
  /** Finished artifacts wait here until published. */
  staging: string;
  installHostTools: boolean;
  /** Reuse compressed initramfs members from the cache (false: compress everything afresh). */
  reuseMembers: boolean;
  renderer: RendererName;
}

export interface PipelineResult {
  artifacts: Artifact[];
  /** Stage name → seconds. */
  timings: Record<string, number>;
}

type Log = (line: string) => void;

export async function runPipeline<I>(flavor: Flavor<I>, outerEnv: StageEnv, opts: PipelineOptions): Promise<PipelineResult> {
  const { spec } = outerEnv;
  // The input stages run concurrently and listr stops waiting at the first failure: the others are told to stop
  // (this signal) and awaited below, so none still writes into the workspace when build() removes it.
  const failed = new AbortController();
  const env: StageEnv = { ...outerEnv, signal: AbortSignal.any([outerEnv.signal, failed.signal]) };
  const inflight: Promise<unknown>[] = [];
  const timings: Record<string, number> = {};
  const artifacts: Artifact[] = [];
  const path = (kind: 'kernel' | 'initramfs' | 'iso') => artifactPath(opts.staging, spec.name, kind);
  // Set by one task each, read by later ones.
  let hostInstalled!: string[];
  const inputs = {} as I;
  let rootfs!: AssembledRootfs;
  let initramfs!: InitramfsResult;
  let bootloaders: Record<string, string> = {};
  // The live list (default renderer) shows a stage's lines only while it runs: its warnings are printed again at the end.
  const stageWarnings: string[] = [];

  const task = (name: string, title: string, run: (log: Log) => Promise<void>, enabled = true): ListrTask => ({
    title,
    enabled,
    task: async (_ctx, t) => {
      // An interrupt stops the build between stages too (those that run no program of their own).
      env.signal.throwIfAborted();
      const t0 = performance.now();
      // Stage log lines show under the task in the live list, as plain lines otherwise.
      const log: Log = (line) => {
        t.output = line;
        if (opts.renderer === 'silent') env.log(line);
        else if (opts.renderer === 'default' && line.startsWith('warning: ')) stageWarnings.push(line);
      };
      try {
        await run(log);
      } finally {
        timings[name] = Math.round(performance.now() - t0) / 1000;
      }
    },
  });
  const inputTask = <K extends keyof I>(key: K, stage: InputStage<I[K]>): ListrTask =>
    task(stage.name, stage.title, async (log) => {
      const p = stage.run({ ...env, log });
      inflight.push(p);
      inputs[key] = await p;
    });

  const stages = flavor.inputs(spec);
  const tasks: ListrTask[] = [
    task('check-host', 'Check host tools', async (log) => {
      hostInstalled = await checkBuildHost(flavor.host(spec), { iso: spec.iso.enabled, install: opts.installHostTools, log });
    }),
    {
      title: 'Fetch inputs',
      task: (_ctx, t) =>
        t.newListr(
          (Object.keys(stages) as (keyof I)[]).map((k) => inputTask(k, stages[k])),
          { concurrent: true, exitOnError: true },
        ),
    },
    task('assemble-rootfs', 'Assemble the root filesystem', async (log) => {
      rootfs = await assembleRootfs(flavor, inputs, { ...env, log });
    }),
    task('write-initramfs', 'Write the initramfs', async (log) => {
      initramfs = await packInitramfs({
        members: rootfs.assembly.members,
        entries: rootfs.tree.entries(),
        out: path('initramfs'),
        compression: spec.compression,
        epoch: spec.sourceDateEpoch,
        memberDir: opts.reuseMembers ? join(env.cacheDir, 'initramfs-members') : join(env.workspace, 'members'),
        log,
      });
      artifacts.push({ kind: 'initramfs', file: `${spec.name}.initramfs`, size: initramfs.size });
    }),
    task('write-kernel', 'Write the kernel', async () => {
      artifacts.push(await writeKernel(rootfs.assembly.kernel.file, path('kernel')));
    }),
    task(
      'write-iso',
      'Write the ISO',
      async () => {
        const r = await writeIso({
          kernel: path('kernel'),
          initrd: path('initramfs'),
          out: path('iso'),
          append: [spec.cmdline, spec.iso.append].filter(Boolean).join(' '),
          label: spec.iso.label,
          epoch: spec.sourceDateEpoch,
          workDir: join(env.workspace, 'iso'),
          secureBoot: spec.iso.secureBoot,
          ...(spec.iso.signing ? { signing: spec.iso.signing } : {}),
        });
        artifacts.push(r.artifact);
        bootloaders = r.bootloaders;
      },
      spec.iso.enabled,
    ),
    // The UKI goes with the ISO: both are the boot media made from the kernel and initramfs.
    task(
      'write-uki',
      'Write the unified kernel image',
      async (log) => {
        const uki = await writeUki(
          {
            kernel: path('kernel'),
            initrd: path('initramfs'),
            out: join(opts.staging, `${spec.name}.efi`),
            cmdline: spec.cmdline,
            epoch: spec.sourceDateEpoch,
            workDir: join(env.workspace, 'uki'),
            ...(spec.iso.signing ? { signing: spec.iso.signing } : {}),
          },
          log,
        );
        if (uki) artifacts.push(uki);
      },
      spec.iso.enabled,
    ),
    task('write-manifest', 'Write manifest.json and SHA256SUMS', async () => {
      await writeManifest({
        spec,
        flavor: flavor.name,
        staging: opts.staging,
        assembly: rootfs.assembly,
        rootfs: rootfs.stats,
        members: initramfs.members,
        bootloaders,
        hostInstalled,
        artifacts,
        timings,
      });
    }),
  ];
  try {
    await runTasks(tasks, opts.renderer);
  } catch (e) {
    failed.abort(e);
    await Promise.allSettled(inflight);
    throw e;
  } finally {
    for (const w of stageWarnings) env.log(w);
  }
  return { artifacts, timings };
}

async function runTasks(tasks: ListrTask[], renderer: RendererName): Promise<void> {
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr), useIcons: renderer === 'default' });
  const list = new Listr(tasks, {
    exitOnError: true,
    registerSignalListeners: false,
    renderer,
    fallbackRenderer: 'simple',
    rendererOptions:
      renderer === 'simple' ? { timestamp: PRESET_TIMESTAMP, logger } : renderer === 'default' ? { logger, collapseSubtasks: false } : {},
    fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP, logger },
    silentRendererCondition: renderer === 'silent',
  } as never);
  await list.run();
}
