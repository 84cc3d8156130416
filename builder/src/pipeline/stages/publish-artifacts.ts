/**
 * staging → output/<name>/, only once every stage succeeded. rename() is
 * atomic on one filesystem, which is why the workspace lives beside output/.
 * An existing output/<name>/ is replaced only after the new one is complete.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from '../context.js';
import { explainFsError } from '../../errors.js';

export async function publishArtifacts(ctx: BuildContext): Promise<string> {
  const dest = join(ctx.outputRoot, ctx.spec.name);
  try {
    await mkdir(ctx.outputRoot, { recursive: true });
    const old = join(ctx.workspace, 'previous');
    if (existsSync(dest)) await rename(dest, old);
    try {
      await rename(ctx.staging, dest);
    } catch (e) {
      if (existsSync(old)) await rename(old, dest);
      throw e;
    }
    await rm(old, { recursive: true, force: true });
  } catch (e) {
    throw explainFsError(e, `publishing to ${dest}`);
  }
  return dest;
}
