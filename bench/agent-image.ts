/**
 * Image download throughput: `curl -o file` and curl | tee >(sha256sum) > file against the
 * agent's streaming download (node:http + sha256 + BlockWriter, with and
 * without O_DIRECT; both fdatasync at the end), and fetch() into the same sink, all from one local HTTP server in a child process
 * on 127.0.0.1 so no client shares an event loop with the server.
 *
 *   node --import tsx bench/agent-image.ts [--size-mb 1024] [--runs 3]
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { downloadImage } from '../agent/src/image/download.js';
import { openImageSink } from '../agent/src/image/block-writer.js';
import { AGENT, CURL_O, CURL_TEE } from './agent-image-names.js';
import { median as med } from './section.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

const SERVER = `
const http = require('node:http'); const fs = require('node:fs');
const file = process.argv[1]; const size = fs.statSync(file).size;
const s = http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': String(size) });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

async function startServer(file: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', SERVER, file], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  mbPerS: Record<string, number[]>;
  median: Record<string, number>;
  /** Agent median over `curl -o` median (the same server, the same run). */
  ratio: number;
}

/** `parent`: where the source and target files go (default: the temp dir); a new directory in it is removed afterwards. */
export async function benchImage(p: { sizeMb: number; runs: number }, parent = tmpdir()): Promise<ImageBench> {
  const { sizeMb, runs } = p;
  const dir = await mkdtemp(join(parent, 'ramforge-bench-image-'));
  const src = join(dir, 'src.raw');
  const out = join(dir, 'out.raw');
  try {
    execFileSync('bash', ['-c', `head -c ${sizeMb}M /dev/urandom > ${src}`]);
    const digest = execFileSync('sha256sum', [src], { encoding: 'utf8' }).split(' ')[0]!;
    const bytes = (await stat(src)).size;
    const srv = await startServer(src);
    try {
      const info = { id: 'img.raw', urls: [srv.url], disk_format: 'raw', os_hash_algo: 'sha256', os_hash_value: digest };
      const dl = { md5Enabled: false, downloadTimeoutS: 60, retries: 0, retryIntervalS: 1, maxDurationS: 0 };
      const variants: Record<string, () => Promise<void>> = {
        // The plain download, no hash: what the target compares with.
        [CURL_O]: async () => {
          execFileSync('curl', ['-s', '-o', out, srv.url]);
        },
        [CURL_TEE]: async () => {
          execFileSync('bash', ['-c', `curl -s ${srv.url} | tee >(sha256sum >/dev/null) > ${out}`]);
        },
        [AGENT]: async () => {
          await downloadImage(info, () => openImageSink(out), dl);
        },
        'agent (node:http, buffered)': async () => {
          await downloadImage(info, () => openImageSink(out, { directIo: false }), dl);
        },
        'fetch() + same sink (O_DIRECT)': async () => {
          // Same hash and sink as the agent: only the HTTP client differs.
          const res = await fetch(srv.url);
          const h = createHash('sha256');
          const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
          body.on('data', (c: Buffer) => h.update(c));
          await pipeline(body, await openImageSink(out));
          if (h.digest('hex') !== digest) throw new Error('fetch variant: checksum mismatch');
        },
      };
      const results: Record<string, number[]> = {};
      for (let r = 0; r < runs; r++) {
        for (const [name, fn] of Object.entries(variants)) {
          await rm(out, { force: true });
          execFileSync('sync');
          const s = await time(fn);
          (results[name] ??= []).push(bytes / s / 1e6);
        }
      }
      const median = Object.fromEntries(Object.entries(results).map(([k, xs]) => [k, med(xs)]));
      const ratio = median[AGENT]! / median[CURL_O]!;
      return { sizeMb, runs, mbPerS: results, median, ratio };
    } finally {
      await srv.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const r = await benchImage({ sizeMb: arg('size-mb', 1024), runs: arg('runs', 3) });
  console.log(`image ${r.sizeMb} MiB, ${r.runs} runs each (MB/s: each run, [median])`);
  for (const [name, xs] of Object.entries(r.mbPerS))
    console.log(`  ${name.padEnd(32)} ${xs.map((x) => x.toFixed(0)).join(' / ')}  [${med(xs).toFixed(0)}]`);
  for (const name of Object.keys(r.mbPerS)) console.log(`  ratio ${name} / curl -o = ${(r.median[name]! / r.median[CURL_O]!).toFixed(2)}`);
}
