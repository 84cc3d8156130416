import type { BuildContext } from '../context.js';
import { requireHost } from '../../host/doctor.js';
import type { Purpose } from '../../host/tools.js';

/** Fail (or, as root, install) before any slow work starts. */
export async function checkHost(ctx: BuildContext): Promise<void> {
  const purposes: Purpose[] = ctx.spec.iso.enabled ? ['build', 'iso'] : ['build'];
  ctx.hostInstalled = await requireHost(purposes, { install: ctx.installHostTools, log: ctx.log });
}
