/**
 * Image download throughput: `curl -o file` and curl | tee >(sha256sum) > file
 * against the agent's streaming download (the socket read straight into
 * BlockWriter's blocks, the sha256 in a worker thread, O_DIRECT writes;
 * fdatasync at the end), all from one local HTTP server (sendfile, in a
 * child process) on 127.0.0.1. `curl -o` leaves the data in the page cache
 * (no fsync); the agent's time ends with it on the disk. The agent runs as
 * the ramdisk runs it: bundled, on the pinned Node, in a process of its own
 * (agent-image-child.ts). Runs are interleaved (curl, agent, curl, ...).
 *
 *   node --import tsx bench/agent-image.ts [--size-mb 1024] [--runs 5] [--buffered]
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleAgent } from '../builder/src/agent-bundle.js';
import { fetchNodeRuntime } from '../builder/src/node-runtime.js';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { DEFAULT_NODE_VERSION } from '../builder/src/spec/normalize.js';
import { AGENT, AGENT_BUFFERED, CURL_O, CURL_TEE } from './agent-image-names.js';
import { median as med } from './section.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

/**
 * The image server: Python's http.server answering with sendfile(2), so that
 * serving costs next to no CPU (10-30 ms per 256 MiB against 110-180 ms for
 * a Node server piping a file stream) and takes as little as possible from
 * the two cores the clients share with it, the same for every client.
 */
const SERVER = `
import http.server, os, sys
path = sys.argv[1]; size = os.path.getsize(path)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(size))
        self.send_header('Connection', 'close')
        self.end_headers()
        with open(path, 'rb') as f:
            self.connection.sendfile(f)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`;

async function startServer(file: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn('python3', ['-c', SERVER, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const gone = new Promise<void>((r) => child.once('close', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await gone;
  };
  try {
    const port = await new Promise<string>((res, rej) => {
      child.once('error', rej);
      child.once('exit', (code) => rej(new Error(`the image server exited (${code}) before listening`)));
      child.stdout.once('data', (d: Buffer) => res(d.toString().trim()));
    });
    return { url: `http://127.0.0.1:${port}/img.raw`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function time(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export interface ImageBench {
  sizeMb: number;
  runs: number;
  node: string;
  mbPerS: Record<string, number[]>;
  median: Record<string, number>;
  /** CPU seconds (user + system) of the agent's process per run. */
  agentCpuS: number[];
  /** Agent median over `curl -o` median (the same server, the same run). */
  ratio: number;
  /** 1-minute load average before and after the runs. */
  load: [number, number];
}

/** The download bundled for, and run on, the ramdisk's Node. */
async function agentChild(dir: string): Promise<{ node: string; version: string; script: string }> {
  const rt = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir());
  const entry = join(dirname(fileURLToPath(import.meta.url)), 'agent-image-child.ts');
  const script = join(dir, 'agent-image-child.mjs');
  await writeFile(script, (await bundleAgent({ nodeVersion: DEFAULT_NODE_VERSION, entry })).code);
  return { node: rt.binary, version: rt.version, script };
}

function runChild(node: string, args: string[]): Promise<{ seconds: number; userS: number; systemS: number }> {
  return new Promise((res, rej) => {
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', rej);
    child.once('close', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`the agent's download exited with ${code}`))));
  });
}

/**
 * `parent`: where the source and target files go (default: the temp dir); a new directory in it is removed afterwards.
 * `buffered`: also the agent without O_DIRECT (slow on a virtual disk: full runs only).
 */
export async function benchImage(p: { sizeMb: number; runs: number; buffered?: boolean }, parent = tmpdir()): Promise<ImageBench> {
  const { sizeMb, runs } = p;
  const dir = await mkdtemp(join(parent, 'ramforge-bench-image-'));
  const src = join(dir, 'src.raw');
  const out = join(dir, 'out.raw');
  try {
    const child = await agentChild(dir);
    execFileSync('bash', ['-c', `head -c ${sizeMb}M /dev/urandom > ${src}`]);
    const digest = execFileSync('sha256sum', [src], { encoding: 'utf8' }).split(' ')[0]!;
    const bytes = (await stat(src)).size;
    const srv = await startServer(src);
    try {
      const agentCpuS: number[] = [];
      const agent =
        (mode: string[], cpu: number[] = []) =>
        async (): Promise<number> => {
          const r = await runChild(child.node, [child.script, srv.url, out, digest, ...mode]);
          cpu.push(r.userS + r.systemS);
          return r.seconds;
        };
      const variants: Record<string, () => Promise<number>> = {
        // The plain download, no hash: what the target compares with.
        [CURL_O]: () => time(async () => void execFileSync('curl', ['-s', '-o', out, srv.url])),
        [AGENT]: agent([], agentCpuS),
        [CURL_TEE]: () => time(async () => void execFileSync('bash', ['-c', `curl -s ${srv.url} | tee >(sha256sum >/dev/null) > ${out}`])),
        ...(p.buffered ? { [AGENT_BUFFERED]: agent(['buffered']) } : {}),
      };
      const load0 = loadavg()[0]!;
      const results: Record<string, number[]> = {};
      for (let r = 0; r < runs; r++) {
        for (const [name, fn] of Object.entries(variants)) {
          await rm(out, { force: true });
          execFileSync('sync');
          const s = await fn();
          (results[name] ??= []).push(bytes / s / 1e6);
        }
      }
      const median = Object.fromEntries(Object.entries(results).map(([k, xs]) => [k, med(xs)]));
      const ratio = median[AGENT]! / median[CURL_O]!;
      return { sizeMb, runs, node: child.version, mbPerS: results, median, agentCpuS, ratio, load: [load0, loadavg()[0]!] };
    } finally {
      await srv.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const r = await benchImage({ sizeMb: arg('size-mb', 1024), runs: arg('runs', 5), buffered: process.argv.includes('--buffered') });
  console.log(
    `image ${r.sizeMb} MiB, ${r.runs} runs each, agent on Node ${r.node}, load ${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)} (MB/s: each run, [median])`,
  );
  for (const [name, xs] of Object.entries(r.mbPerS))
    console.log(`  ${name.padEnd(32)} ${xs.map((x) => x.toFixed(0)).join(' / ')}  [${med(xs).toFixed(0)}]`);
  console.log(`  agent CPU s per run: ${r.agentCpuS.map((x) => x.toFixed(2)).join(' / ')}`);
  for (const name of Object.keys(r.mbPerS)) console.log(`  ratio ${name} / curl -o = ${(r.median[name]! / r.median[CURL_O]!).toFixed(2)}`);
}
