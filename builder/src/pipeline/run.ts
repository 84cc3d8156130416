/**
 * The build, top to bottom: an ordered list of stages over one BuildContext,
 * and the only place that knows about listr2. Stages never import listr2, so
 * the library runs the same without a terminal.
 */
import { Listr, ListrLogger, PRESET_TIMESTAMP, ProcessOutput, type ListrTask } from 'listr2';
import type { BuildContext } from './context.js';
import { checkHost } from './stages/check-host.js';
import { resolvePackages } from './stages/resolve-packages.js';
import { fetchKernel } from './stages/fetch-kernel.js';
import { fetchNode } from './stages/fetch-node.js';
import { bundleAgent } from './stages/bundle-agent.js';
import { assembleRootfs } from './stages/assemble-rootfs.js';
import { writeInitramfs } from './stages/write-initramfs.js';
import { writeKernel } from './stages/write-kernel.js';
import { writeIso } from './stages/write-iso.js';
import { writeManifest } from './stages/write-manifest.js';

export type RendererName = 'default' | 'simple' | 'silent';

export interface Stage {
  name: string;
  title: string;
  run: (ctx: BuildContext) => Promise<void>;
  enabled?: (ctx: BuildContext) => boolean;
}

/** Stages in one inner array run concurrently (they touch disjoint context fields). */
export const PIPELINE: (Stage | Stage[])[] = [
  { name: 'check-host', title: 'Check host tools', run: checkHost },
  [
    { name: 'resolve-packages', title: 'Resolve and download Debian packages', run: async (ctx) => { await resolvePackages(ctx); await fetchKernel(ctx); } },
    { name: 'fetch-node', title: 'Fetch the pinned Node runtime', run: fetchNode },
    { name: 'bundle-agent', title: 'Bundle the agent', run: bundleAgent },
  ],
  { name: 'assemble-rootfs', title: 'Assemble the root filesystem', run: assembleRootfs },
  { name: 'write-initramfs', title: 'Write the initramfs', run: writeInitramfs },
  { name: 'write-kernel', title: 'Write the kernel', run: writeKernel },
  { name: 'write-iso', title: 'Write the ISO', run: writeIso, enabled: (ctx) => ctx.spec.iso.enabled },
  { name: 'write-manifest', title: 'Write manifest.json and SHA256SUMS', run: writeManifest },
];

export async function runPipeline(ctx: BuildContext, renderer: RendererName): Promise<void> {
  const toTask = (s: Stage): ListrTask<BuildContext> => ({
    title: s.title,
    enabled: (c) => s.enabled?.(c) ?? true,
    task: async (c, task) => {
      const t0 = performance.now();
      const log = c.log;
      // Stage log lines show under the task in the live list, as plain lines otherwise.
      const stageLog = (line: string) => { task.output = line; if (renderer === 'silent') log(line); };
      // Same context (stages set its fields), but log lines go to this task.
      const stageCtx = new Proxy(c, { get: (t, k, r) => (k === 'log' ? stageLog : Reflect.get(t, k, r)) });
      try {
        await s.run(stageCtx);
      } finally {
        c.timings[s.name] = Math.round(performance.now() - t0) / 1000;
      }
    },
  });
  const tasks: ListrTask<BuildContext>[] = PIPELINE.map((s) =>
    Array.isArray(s)
      ? { title: 'Fetch inputs', task: (_c, t) => t.newListr(s.map(toTask), { concurrent: true, exitOnError: true }) }
      : toTask(s),
  );
  const logger = new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr), useIcons: renderer === 'default' });
  const list = new Listr<BuildContext, 'default' | 'simple' | 'silent', 'simple'>(tasks, {
    ctx,
    exitOnError: true,
    registerSignalListeners: false,
    renderer,
    fallbackRenderer: 'simple',
    rendererOptions: renderer === 'simple' ? { timestamp: PRESET_TIMESTAMP, logger } : renderer === 'default' ? { logger, collapseSubtasks: false } : {},
    fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP, logger },
    silentRendererCondition: renderer === 'silent',
  } as never);
  await list.run();
}
