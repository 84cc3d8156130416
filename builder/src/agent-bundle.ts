/**
 * The agent as one file: esbuild bundles agent/src/main.ts and its npm
 * dependencies into a single ES module for the ramdisk's Node. Deterministic
 * for the same sources (no timestamps, no absolute paths in the output).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { BuildError } from './errors.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface AgentBundle {
  code: Buffer;
  bytes: number;
}

export async function bundleAgent(opts: { nodeVersion: string; entry?: string }): Promise<AgentBundle> {
  const major = opts.nodeVersion.split('.')[0] ?? '22';
  try {
    const result = await build({
      entryPoints: [opts.entry ?? join(REPO_ROOT, 'agent', 'src', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: `node${major}`,
      write: false,
      minify: true,
      keepNames: true, // error class names are the `type` the conductor sees
      legalComments: 'none',
      sourcemap: false,
      absWorkingDir: REPO_ROOT,
      logLevel: 'silent',
      // Some dependencies still call require(); give the ESM bundle one.
      banner: {
        js: "import { createRequire as __rfCreateRequire } from 'node:module'; const require = __rfCreateRequire(import.meta.url);",
      },
    });
    const file = result.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output');
    const code = Buffer.from(file.contents);
    return { code, bytes: code.length };
  } catch (e) {
    throw new BuildError(`bundling the agent failed: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'run `npm run typecheck` to see the error in agent/src',
      cause: e,
    });
  }
}
