/**
 * The agent API under sustained load: wrk (Debian's) against the agent as the
 * ramdisk runs it (bundle, pinned Node, the ramdisk's flags), on 127.0.0.1,
 * first on /v1/status, then on /v1/commands/. RSS is sampled while wrk runs:
 * before, the peak, and once the load stopped. The agent's CPU time per
 * request (user + system, from /proc) is printed too: on a loaded host
 * requests/s and p99 follow the other jobs, CPU per request much less.
 *
 * Each path gets a warm-up wrk run first (not counted, as wrk users do):
 * without it the first path measured pays for the whole process's warm-up
 * (V8 compiling the request path, unoptimised code allocating more, the heap
 * growing from its idle size), which showed as a worse p99 on /v1/status,
 * measured first, than on /v1/commands/ with the same handler cost. The RSS
 * figures span the warm-up too: start is before it, the peak includes it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../test/support/qemu.js';
import { prepareAgent, RAMDISK_NODE_FLAGS, rssMiB, waitForStatus } from './agent.js';
import type { BenchContext } from './section.js';

const execFileP = promisify(execFile);

export interface LoadParams {
  /** wrk -t, -c, -d (seconds), as in the issue: -t2 -c32 -d30s. */
  threads: number;
  connections: number;
  seconds: number;
  /** A wrk run of this many seconds on each path before the measured one (not counted; 0: none). */
  warmupS: number;
  /** How long after the load stops the end RSS is read. */
  settleS: number;
}

export interface LoadRun {
  path: string;
  requestsPerS: number;
  p99Ms: number;
  /** Non-2xx answers and socket errors wrk counted. */
  errors: number;
  rssMiB: { start: number; peak: number; end: number };
  /** The agent's user + system CPU time per answered request (of the measured run). */
  cpuUsPerRequest: number;
}

/** user + system CPU seconds of a process (clock ticks of USER_HZ = 100). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface LoadFigures {
  node: string;
  flags: string[];
  wrk: string;
  runs: LoadRun[];
}

/** wrk's latency with its unit ("4.30ms", "812.00us", "1.02s") in ms. */
export function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim());
  if (!m) throw new Error(`bench: cannot read wrk latency '${s}'`);
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2] as 'us' | 'ms' | 's' | 'm'];
}

/** The figures of `wrk --latency` output. */
export function parseWrk(out: string): { requestsPerS: number; p99Ms: number; errors: number; requests: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in /.exec(out);
  const p99 = /^\s*99%\s+(\S+)/m.exec(out);
  if (!rps || !p99) throw new Error(`bench: cannot read wrk's output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { requestsPerS: Number(rps[1]), p99Ms: wrkMs(p99[1]!), errors, requests: Number(total?.[1] ?? Number.NaN) };
}

export async function loadSection(p: LoadParams, ctx: BenchContext): Promise<LoadFigures> {
  const agent = await prepareAgent(ctx);
  const port = await freePort();
  const cmdline = join(agent.dir, 'cmdline');
  writeFileSync(cmdline, `ipa-listen-host=127.0.0.1 ipa-listen-port=${port}\n`);
  const { stdout: version } = await execFileP('wrk', ['-v']).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const child = agent.start(['--standalone', '--cmdline', cmdline]);
  try {
    await waitForStatus(port, child);
    // Idle first, as a ramdisk is when the conductor starts polling.
    await sleep(5000);
    const runs: LoadRun[] = [];
    const wrk = (path: string, seconds: number): Promise<string> => {
      ctx.log(`wrk -t${p.threads} -c${p.connections} -d${seconds}s on ${path}${seconds === p.seconds ? '' : ' (warm-up, not counted)'}`);
      return execFileP('wrk', ['--latency', `-t${p.threads}`, `-c${p.connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}${path}`], {
        timeout: (seconds + 30) * 1000,
      }).then((r) => r.stdout);
    };
    for (const path of ['/v1/status', '/v1/commands/']) {
      const start = rssMiB(child.pid!);
      let peak = start;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB(child.pid!));
      }, 100);
      let out: string;
      let cpu: number;
      try {
        if (p.warmupS > 0) await wrk(path, p.warmupS);
        const cpu0 = cpuSeconds(child.pid!);
        out = await wrk(path, p.seconds);
        cpu = cpuSeconds(child.pid!) - cpu0;
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, rssMiB(child.pid!));
      await sleep(p.settleS * 1000);
      const { requests, ...figures } = parseWrk(out);
      runs.push({ path, ...figures, rssMiB: { start, peak, end: rssMiB(child.pid!) }, cpuUsPerRequest: (cpu / requests) * 1e6 });
    }
    return { node: agent.nodeVersion, flags: RAMDISK_NODE_FLAGS, wrk: version.split('\n')[0]!.trim(), runs };
  } finally {
    await agent.stop(child);
  }
}
