import type { BuildContext } from '../context.js';
import { fetchNodeRuntime } from '../../node-runtime.js';

export async function fetchNode(ctx: BuildContext): Promise<void> {
  ctx.node = await fetchNodeRuntime(ctx.spec.node.version, ctx.cacheDir, { strip: ctx.spec.node.strip, icu: ctx.spec.node.icu, log: ctx.log });
}
