/**
 * Agent figures: start → /v1/status, start → first lookup request, and RSS
 * after start, standalone and after a lookup (the esbuild bundle on the ramdisk's pinned Node, as it runs
 * in the ramdisk). Inventory time and image streaming are sections of their
 * own (agent-inventory.ts, agent-image.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleAgent } from '../builder/src/agent-bundle.js';
import { makeAgentCompileCache } from '../builder/src/agent-compile-cache.js';
import { agentNodeFlags } from '../builder/src/flavors/tinyipa/agent-start.js';
import { fetchNodeRuntime } from '../builder/src/node-runtime.js';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { DEFAULT_NODE_VERSION } from '../builder/src/spec/normalize.js';
import { startFakeIronic } from '../agent/test/support/fake-ironic.js';
import { freePort } from '../test/support/qemu.js';
import type { BenchContext } from './section.js';

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, p: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`the agent exited (${p.exitCode ?? p.signalCode}) before ${what}`);
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** RSS of `pid` read `afterS` seconds after `t0` (milliseconds on the `now` clock). */
async function rssAt(pid: number, afterS: number[], t0: number, now: () => number): Promise<{ afterS: number; mib: number }[]> {
  const out: { afterS: number; mib: number }[] = [];
  for (const s of afterS) {
    await sleep(Math.max(0, t0 + s * 1000 - now()));
    out.push({ afterS: s, mib: +rssMiB(pid).toFixed(1) });
  }
  return out;
}

/** PATH as /usr/sbin/ramforge-agent exports it in the ramdisk. */
const RAMDISK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The Node flags /usr/sbin/ramforge-agent runs the agent with in the ramdisk, read from that script. */
export const RAMDISK_NODE_FLAGS = agentNodeFlags();

export interface AgentParams {
  /** Starts measured for start → /v1/status and for start → lookup (median taken). */
  starts: number;
  /** Seconds after the first start at which RSS is read: "idle" is once V8's idle-time GC has run (25 s). */
  rssAfterS: number[];
}

export interface AgentFigures {
  node: string;
  statusSeconds: number[];
  firstLookupSeconds: number[];
  rssMiB: { afterS: number; mib: number }[];
  /**
   * The same readings for the agent that looked itself up in a (fake) Ironic: what a
   * ramdisk's agent holds while it waits for commands (lookup, heartbeats, the
   * auto-TLS API the Ironic version asks for, the network inventory).
   */
  rssAfterLookupMiB: { afterS: number; mib: number }[];
  /** The same readings for a bare node:http server on the same Node: what the agent's RSS cannot go below. */
  bareNodeRssMiB: { afterS: number; mib: number; binaryMiB: number }[];
}

/** The agent as the ramdisk runs it: the bundle on the pinned Node (from tmpfs), with the ramdisk's flags. */
export interface BenchAgent {
  node: string;
  nodeVersion: string;
  dir: string;
  start(args: string[]): ChildProcess;
  stop(child: ChildProcess): Promise<void>;
}

export async function prepareAgent(ctx: BenchContext): Promise<BenchAgent> {
  const dir = ctx.tempDir('agent');
  const fetched = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir());
  // In the ramdisk the binary lives in RAM (tmpfs); run it from tmpfs too, since
  // page-cache effects of a disk filesystem change RSS by several MB.
  const shm = ctx.tempDir('node', { under: '/dev/shm' });
  const node = join(shm, 'node');
  copyFileSync(fetched.binary, node);
  chmodSync(node, 0o755);
  const bundle = join(dir, 'agent.mjs');
  const code = (await bundleAgent({ nodeVersion: DEFAULT_NODE_VERSION })).code;
  writeFileSync(bundle, code);
  // The ramdisk ships V8's code cache for the bundle (builder/src/agent-compile-cache.ts): so does this run.
  const cacheDir = join(dir, 'compile-cache');
  const cache = await makeAgentCompileCache({
    node,
    bundle: code,
    url: pathToFileURL(bundle).href,
    flags: RAMDISK_NODE_FLAGS,
    log: ctx.log,
  });
  if (cache) {
    // Made on this host, so Node's directory for this CPU and these flags is where the generator's entry was.
    execFileSync(node, [...RAMDISK_NODE_FLAGS, '-e', `require('node:module').enableCompileCache(${JSON.stringify(cacheDir)})`]);
    const tagDir = join(cacheDir, readdirSync(cacheDir)[0]!);
    writeFileSync(join(tagDir, cache.key), cache.data);
  }

  let runs = 0;
  const start = (args: string[]): ChildProcess => {
    // The bench only reads: the agent never gets a command that writes.
    const state = ctx.tempDir(`agent-state-${runs++}`);
    return ctx.track(
      spawn(node, [...RAMDISK_NODE_FLAGS, bundle, ...args], {
        stdio: ['ignore', 'ignore', 'inherit'],
        // The ramdisk's PATH (/usr/sbin/ramforge-agent sets it), not the caller's: the agent walks
        // PATH to find its tools, and a long one (npm run puts node_modules/.bin dirs first) made
        // node:path's functions hot enough for V8 to optimize them, +5 MiB of compiler code resident.
        env: {
          ...process.env,
          PATH: RAMDISK_PATH,
          RAMFORGE_AGENT_STATE_DIR: state,
          ...(cache ? { NODE_COMPILE_CACHE: cacheDir } : {}),
        },
      }),
    );
  };
  const stop = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await gone;
  };
  return { node, nodeVersion: fetched.version, dir, start, stop };
}

/** Polls /v1/status until it answers 200. */
export async function waitForStatus(port: number, child: ChildProcess): Promise<void> {
  await waitFor(
    '/v1/status answered',
    async () =>
      await fetch(`http://127.0.0.1:${port}/v1/status`).then(
        (r) => r.ok,
        () => false,
      ),
    child,
    30_000,
  );
}

/**
 * A server answering /v1/status and nothing else: a CommonJS script with one
 * require of node:http, as little of Node as serving HTTP takes.
 */
const BARE_SERVER = `require('node:http').createServer((q, s) => s.end('{}')).listen(Number(process.argv[1]), '127.0.0.1');`;

/** How much of a process's RSS is pages of the file `path` it maps (its executable: text, read-only data, symbol tables). */
function fileRssMiB(pid: number, path: string): number {
  let kb = 0;
  let mapsFile = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapsFile = line.endsWith(` ${path}`);
    else if (mapsFile && line.startsWith('Rss:')) kb += Number(/(\d+)/.exec(line)![1]);
  }
  return kb / 1024;
}

/** RSS of the bare server on the agent's Node at the same instants after its start as the agent's. */
async function bareNodeRss(
  node: string,
  rssAfterS: number[],
  ctx: BenchContext,
): Promise<{ afterS: number; mib: number; binaryMiB: number }[]> {
  const port = await freePort();
  const t0 = performance.now();
  const child = ctx.track(
    spawn(node, [...RAMDISK_NODE_FLAGS, '-e', BARE_SERVER, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  try {
    await waitForStatus(port, child);
    const out: { afterS: number; mib: number; binaryMiB: number }[] = [];
    for (const s of rssAfterS) {
      await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
      out.push({ afterS: s, mib: +rssMiB(child.pid!).toFixed(1), binaryMiB: +fileRssMiB(child.pid!, node).toFixed(1) });
    }
    return out;
  } finally {
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await gone;
  }
}

export async function agentSection(p: AgentParams, ctx: BenchContext): Promise<AgentFigures> {
  const { dir, node, nodeVersion, start: startAgent, stop } = await prepareAgent(ctx);

  // start → /v1/status; RSS after the first start
  const port = await freePort();
  const cmdline = join(dir, 'cmdline');
  writeFileSync(cmdline, `ipa-listen-host=127.0.0.1 ipa-listen-port=${port}\n`);
  const statusSeconds: number[] = [];
  const rss: { afterS: number; mib: number }[] = [];
  for (let i = 0; i < p.starts; i++) {
    const t0 = performance.now();
    const a = startAgent(['--standalone', '--cmdline', cmdline]);
    await waitForStatus(port, a);
    statusSeconds.push((performance.now() - t0) / 1000);
    if (i === 0) {
      rss.push(...(await rssAt(a.pid!, p.rssAfterS, t0, () => performance.now())));
    }
    await stop(a);
  }

  // start → first lookup request, against a fake Ironic on 127.0.0.1
  const ironic = await startFakeIronic();
  ctx.defer(() => ironic.close());
  writeFileSync(cmdline, `ipa-api-url=${ironic.url} ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-advertise-host=127.0.0.1\n`);
  const firstLookupSeconds: number[] = [];
  const rssAfterLookup: { afterS: number; mib: number }[] = [];
  for (let i = 0; i < p.starts; i++) {
    ironic.reset();
    const t0 = Date.now();
    const a = startAgent(['--cmdline', cmdline]);
    await waitFor('the first lookup request', () => ironic.requestsTo('lookup').length > 0, a, 30_000);
    firstLookupSeconds.push((ironic.requestsTo('lookup')[0]!.at - t0) / 1000);
    if (i === 0) {
      rssAfterLookup.push(...(await rssAt(a.pid!, p.rssAfterS, t0, Date.now)));
    }
    await stop(a);
  }
  const bareNodeRssMiB = await bareNodeRss(node, p.rssAfterS, ctx);
  return { node: nodeVersion, statusSeconds, firstLookupSeconds, rssMiB: rss, rssAfterLookupMiB: rssAfterLookup, bareNodeRssMiB };
}
