/**
 * V8's code cache for the agent bundle, made at build time so the ramdisk's
 * Node does not parse and compile the 1.4 MB bundle on every boot (under
 * emulation that is about half a second of a ~10 s boot to /v1/status).
 *
 * Node's module compile cache (Node >= 22.1) keys an entry by the module's
 * URL and checks it against the source's hash, V8's version and the V8
 * flags; the entry also names the URL. So the bundle is
 * compiled here by the pinned Node under the URL it has in the ramdisk (a
 * module hook serves the bytes from the workspace) with the flags the ramdisk
 * runs it with. The bytes are reproducible: V8 seeds its string hashes from
 * --random-seed, fixed here and not part of the flags V8 checks (the ramdisk
 * runs with a random seed and accepts the entry). Node writes the entry right
 * after compiling, before anything runs, so the build host does not shape it.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec/run.js';

export interface AgentCompileCache {
  /**
   * The entry's file name (Node's key for the URL). Node looks for it in a
   * directory named after the Node version, V8's version, flags and the
   * CPU's features (`v22.23.3-x64-a9248937-0`): the CPU is the ramdisk's,
   * unknown here, so the ramdisk copies the entry there at start.
   */
  key: string;
  data: Buffer;
}

/** Runs in the pinned Node: hooks that serve `file` as `url`, then the compile cache on, then the import. */
const GENERATOR = `
import { enableCompileCache, register } from 'node:module';
const [file, url, dir] = process.argv.slice(2);
const hooks = \`
import { readFileSync } from 'node:fs';
const url = \${JSON.stringify(url)}, file = \${JSON.stringify(file)};
export async function resolve(s, c, next) { return s === url ? { url, shortCircuit: true } : next(s, c); }
export async function load(u, c, next) { return u === url ? { format: 'module', source: readFileSync(file), shortCircuit: true } : next(u, c); }
\`;
register('data:text/javascript,' + encodeURIComponent(hooks));
const r = enableCompileCache(dir);
if (r.status !== 1) throw new Error('compile cache not enabled: ' + (r.message ?? r.status));
await import(url);
`;

/**
 * The cache entry for `bundle` as the ramdisk loads it from `url` with `flags`,
 * or undefined (with the reason logged) when the pinned Node cannot make one
 * here (another architecture, a Node without the compile cache): the ramdisk
 * then compiles at start, as before.
 */
export async function makeAgentCompileCache(o: {
  node: string;
  bundle: Buffer;
  url: string;
  flags: string[];
  log?: (line: string) => void;
}): Promise<AgentCompileCache | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-compile-cache-'));
  try {
    const file = join(dir, 'agent.mjs');
    const generator = join(dir, 'generate.mjs');
    const cache = join(dir, 'cache');
    await writeFile(file, o.bundle);
    await writeFile(generator, GENERATOR);
    // The agent's module scope only defines things; main() runs only when the bundle is the entry script.
    await run([o.node, ...o.flags, '--random-seed=1', generator, file, o.url, cache], { cwd: dir });
    const tags = await readdir(cache);
    const entries = tags.length === 1 ? await readdir(join(cache, tags[0]!)) : [];
    if (entries.length !== 1) throw new Error(`expected one cache entry, found ${tags.join(', ')}: ${entries.join(', ')}`);
    return { key: entries[0]!, data: await readFile(join(cache, tags[0]!, entries[0]!)) };
  } catch (e) {
    o.log?.(`no compile cache for the agent (it compiles at start instead): ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
