import type { BuildContext } from '../context.js';
import { bundleAgent as bundle } from '../../agent-bundle.js';

export async function bundleAgent(ctx: BuildContext): Promise<void> {
  ctx.agent = await bundle({ nodeVersion: ctx.spec.node.version });
  ctx.log(`agent bundle: ${(ctx.agent.bytes / 1024).toFixed(0)} KiB`);
}
