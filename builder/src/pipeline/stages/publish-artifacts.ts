/**
 * staging → output/<name>/, only once every stage succeeded. rename() is
 * atomic on one filesystem, which is why the workspace lives beside output/.
 * An existing output/<name>/ is replaced only after the new one is complete.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { explainFsError } from '../../errors.js';

export async function publishArtifacts(a: { staging: string; workspace: string; outputRoot: string; name: string }): Promise<string> {
  const dest = join(a.outputRoot, a.name);
  try {
    await mkdir(a.outputRoot, { recursive: true });
    const old = join(a.workspace, 'previous');
    if (existsSync(dest)) await rename(dest, old);
    try {
      await rename(a.staging, dest);
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
