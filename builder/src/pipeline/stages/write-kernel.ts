import { copyFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Artifact } from '../context.js';

export async function writeKernel(kernelFile: string, out: string): Promise<Artifact> {
  await copyFile(kernelFile, out);
  return { kind: 'kernel', file: basename(out), size: (await stat(out)).size };
}
