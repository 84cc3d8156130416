/**
 * Agent figures: start → /v1/status, start → first lookup request, idle RSS
 * (the esbuild bundle on the ramdisk's pinned Node, as it runs in the
 * ramdisk), inventory time, and image streaming against curl. IPA 9.1.1's
 * figures on this machine are printed beside ours.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleAgent } from '../builder/src/agent-bundle.js';
import { fetchNodeRuntime } from '../builder/src/node-runtime.js';
import { defaultCacheDir } from '../builder/src/pipeline/context.js';
import { DEFAULT_NODE_VERSION } from '../builder/src/spec/normalize.js';
import { startFakeIronic } from '../agent/test/support/fake-ironic.js';
import { freePort } from '../test/support/qemu.js';
import { benchInventory } from './agent-inventory.js';
import { benchImage } from './agent-image.js';

interface Row { metric: string; value: string; target: string; reference?: string }

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error('timed out');
}

/** As /usr/sbin/ramforge-agent runs it in the ramdisk. */
const RAMDISK_NODE_FLAGS = ['--max-semi-space-size=1'];

function startAgent(node: string, bundle: string, args: string[]): ChildProcess {
  // The bench only reads: the agent never gets a command that writes.
  return spawn(node, [...RAMDISK_NODE_FLAGS, bundle, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RAMFORGE_AGENT_STATE_DIR: mkdtempSync(join(tmpdir(), 'rf-agent-state-')) } });
}

export async function agentBench(rows: Row[], json: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-bench-agent-'));
  try {
    const fetched = await fetchNodeRuntime(DEFAULT_NODE_VERSION, defaultCacheDir());
    // In the ramdisk the binary lives in RAM (tmpfs); run it from tmpfs too, since
    // page-cache effects of a disk filesystem change RSS by several MB.
    const shm = mkdtempSync('/dev/shm/ramforge-bench-');
    const runtime = { ...fetched, binary: join(shm, 'node') };
    copyFileSync(fetched.binary, runtime.binary);
    chmodSync(runtime.binary, 0o755);
    const bundle = join(dir, 'agent.mjs');
    writeFileSync(bundle, (await bundleAgent({ nodeVersion: DEFAULT_NODE_VERSION })).code);

    // start → /v1/status, then idle RSS after 5 s
    const port = await freePort();
    const cmdline = join(dir, 'cmdline');
    writeFileSync(cmdline, `ipa-listen-host=127.0.0.1 ipa-listen-port=${port}\n`);
    const statusTimes: number[] = [];
    let rss5 = NaN;
    let rss = NaN;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const p = startAgent(runtime.binary, bundle, ['--standalone', '--cmdline', cmdline]);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/status`).then((r) => r.ok, () => false)), 30_000);
      statusTimes.push((performance.now() - t0) / 1000);
      if (i === 0) {
        // "Idle": 5 s after start, and 25 s after start, once V8's idle-time GC has run.
        await sleep(5000);
        rss5 = rssMiB(p.pid!);
        await sleep(20000);
        rss = rssMiB(p.pid!);
      }
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    const status = [...statusTimes].sort((a, b) => a - b)[1]!;

    // start → first lookup request, against a fake Ironic on 127.0.0.1
    const ironic = await startFakeIronic();
    writeFileSync(cmdline, `ipa-api-url=${ironic.url} ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-advertise-host=127.0.0.1\n`);
    const lookupTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      ironic.reset();
      const t0 = Date.now();
      const p = startAgent(runtime.binary, bundle, ['--cmdline', cmdline]);
      await waitFor(() => ironic.requestsTo('lookup').length > 0, 30_000);
      lookupTimes.push((ironic.requestsTo('lookup')[0]!.at - t0) / 1000);
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    await ironic.close();
    const lookup = [...lookupTimes].sort((a, b) => a - b)[1]!;

    const inv = await benchInventory(false, false);
    const img = await benchImage(1024, 3, false);
    rmSync(shm, { recursive: true, force: true });
    json.agent = { node: runtime.version, statusSeconds: statusTimes, rssAt5sMiB: rss5, idleRssMiB: rss, firstLookupSeconds: lookupTimes, inventory: inv, image: img };
    rows.push({ metric: `agent start → /v1/status (bundle on Node ${runtime.version})`, value: `${status.toFixed(2)} s`, target: '-', reference: 'IPA 9.1.1: 1.09 s' });
    rows.push({ metric: 'agent start → first lookup request', value: `${lookup.toFixed(2)} s`, target: '≤ 1 s' });
    rows.push({ metric: 'agent idle RSS (25 s after start)', value: `${rss.toFixed(1)} MiB`, target: '≤ 60 MB', reference: `IPA 9.1.1: 83 MB; 5 s after start: ${rss5.toFixed(1)} MiB` });
    rows.push({ metric: 'full inventory (median of 5)', value: `${(inv.medianMs / 1000).toFixed(3)} s`, target: '≤ 1 s', reference: 'IPA 9.1.1: 1.37 s' });
    rows.push({ metric: 'raw image → file with sha256, agent', value: `${img.median['agent (node:http, O_DIRECT)']!.toFixed(0)} MB/s`, target: '≥ 0.9 × curl', reference: `curl|tee|sha256sum: ${img.median['curl | tee >(sha256sum) > file']!.toFixed(0)} MB/s; ratio ${img.ratio.toFixed(2)}; IPA 9.1.1: 370-420 MB/s` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
