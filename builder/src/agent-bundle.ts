/**
 * The agent as one file: esbuild bundles agent/src/main.ts and its npm
 * dependencies into a single ES module for the ramdisk's Node. Deterministic
 * for the same sources (no timestamps, no absolute paths in the output).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';
import { BuildError } from './errors.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface AgentBundle {
  code: Buffer;
  bytes: number;
}

const BUILTINS = new Set(builtinModules);
const isBuiltin = (spec: string): boolean => spec.startsWith('node:') || BUILTINS.has(spec);

/**
 * Every ES import of a Node built-in becomes a require() of it. Importing a
 * built-in as an ES module makes Node build a module facade that reads every
 * export once, and that runs the exports' lazy getters (node:http's
 * WebSocket loads undici, node:crypto's webcrypto loads WebCrypto); esbuild
 * hoists the imports of the whole bundle to its top, so the agent would pay
 * all of it at start. require() returns the same exports without the facade.
 */
const builtinsForLowRss: Plugin = {
  name: 'node-builtins-for-low-rss',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/0-9]+$/ }, (a) => {
      if (!isBuiltin(a.path) || a.namespace !== 'file') return undefined;
      if (a.kind === 'import-statement' || a.kind === 'dynamic-import') return { path: a.path, namespace: 'node-builtin' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => ({
      contents: `module.exports = require(${JSON.stringify(a.path)});`,
      loader: 'js',
    }));
  },
};

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
      plugins: [builtinsForLowRss],
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
