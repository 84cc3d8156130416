/**
 * npm run bench: builder and agent figures, as a table and as JSON.
 * Targets (issue text) are printed beside the measured values; IPA's figures
 * where we have them. Nothing here asserts: it measures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../builder/src/agent-bundle.js';
import { TEST_SPEC } from '../test/support/shared-build.js';
import { bootVm, freePort } from '../test/support/qemu.js';
import { benchCpio } from './cpio.js';
import { listInitramfs } from '../builder/src/archive/initramfs-list.js';
import { decompressStream } from '../builder/src/archive/compress.js';

interface Row { metric: string; value: string; target: string; reference?: string }
const rows: Row[] = [];
const json: Record<string, unknown> = {};
const only = process.argv.slice(2);
const want = (s: string) => only.length === 0 || only.includes(s);

function buildOnce(cacheDir: string, label: string, spec: Record<string, unknown> = TEST_SPEC): { seconds: number; outputDir: string; maxRssMiB: number; timings: Record<string, number> } {
  const dir = mkdtempSync(join(tmpdir(), `ramforge-bench-${label}-`));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'build-child.ts'), dir, join(dir, 'output'), JSON.stringify(spec)], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, RAMFORGE_CACHE: cacheDir, npm_config_cache: join(cacheDir, 'npm') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`${label} build failed`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as never;
}

async function bootTime(opts: Parameters<typeof bootVm>[0]): Promise<number> {
  const port = await freePort();
  // A sparse 8 GiB disk, as a target has: without a disk the agent first waits for one (as IPA does).
  const disk = join(mkdtempSync(join(tmpdir(), 'ramforge-bench-disk-')), 'disk.img');
  spawnSync('truncate', ['-s', '8G', disk]);
  const vm = await bootVm({ memoryMiB: 512, hostfwd: [{ hostPort: port, guestPort: 9999 }], disks: [{ path: disk, format: 'raw' }], ...opts });
  try {
    await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 300_000);
    return (Date.now() - vm.startedAt) / 1000;
  } finally {
    await vm.stop();
    rmSync(disk, { force: true });
  }
}

async function builder(): Promise<void> {
  const cache = mkdtempSync(join(tmpdir(), 'ramforge-bench-cache-'));
  try {
    const cold = buildOnce(cache, 'cold');
    const warm = buildOnce(cache, 'warm');
    json.build = { coldSeconds: cold.seconds, warmSeconds: warm.seconds, coldTimings: cold.timings, warmTimings: warm.timings, peakRssMiB: Math.max(cold.maxRssMiB, warm.maxRssMiB) };
    rows.push({ metric: 'cold build (empty caches, incl. downloads)', value: `${cold.seconds.toFixed(1)} s`, target: '≤ 180 s' });
    rows.push({ metric: 'warm build (packages cached)', value: `${warm.seconds.toFixed(1)} s`, target: '≤ 60 s' });
    rows.push({ metric: 'build peak RSS (ramforge process)', value: `${Math.max(cold.maxRssMiB, warm.maxRssMiB).toFixed(0)} MiB`, target: '-' });

    const out = warm.outputDir;
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { rootfs: { bytes: number; files: number }; spec: { compression: string } };
    const initramfs = statSync(join(out, 'tinyipa.initramfs')).size;
    const iso = statSync(join(out, 'tinyipa.iso')).size;
    const kernel = statSync(join(out, 'tinyipa.kernel')).size;
    json.size = { initramfsBytes: initramfs, isoBytes: iso, kernelBytes: kernel, rootfsBytes: manifest.rootfs.bytes, rootfsFiles: manifest.rootfs.files };
    rows.push({ metric: `initramfs (${manifest.spec.compression})`, value: `${(initramfs / 1e6).toFixed(1)} MB`, target: '≤ 45 MB' });
    rows.push({ metric: 'initramfs unpacked', value: `${(manifest.rootfs.bytes / 1e6).toFixed(1)} MB (${manifest.rootfs.files} files)`, target: '-' });
    rows.push({ metric: 'ISO', value: `${(iso / 1e6).toFixed(1)} MB`, target: '-' });

    const direct = await bootTime({ kernel: join(out, 'tinyipa.kernel'), initrd: join(out, 'tinyipa.initramfs'), append: 'console=ttyS0,115200' });
    const bios = await bootTime({ iso: join(out, 'tinyipa.iso'), firmware: 'bios' });
    const uefi = await bootTime({ iso: join(out, 'tinyipa.iso'), firmware: 'uefi' });
    json.boot = { directSeconds: direct, isoBiosSeconds: bios, isoUefiSeconds: uefi, memoryMiB: 512, accel: process.env.RAMFORGE_QEMU_ACCEL ?? 'tcg' };
    rows.push({ metric: 'boot → /v1/status, kernel+initramfs (TCG, 512 MiB)', value: `${direct.toFixed(1)} s`, target: '≤ 20 s' });
    rows.push({ metric: 'boot → /v1/status, ISO on BIOS', value: `${bios.toFixed(1)} s`, target: '≤ 30 s' });
    rows.push({ metric: 'boot → /v1/status, ISO on UEFI', value: `${uefi.toFixed(1)} s`, target: '≤ 30 s' });

    // The alternative compression, same inputs: what the default trades.
    const alt = manifest.spec.compression === 'xz' ? 'zstd' : 'xz';
    const other = buildOnce(cache, alt, { ...TEST_SPEC, compression: alt, iso: false });
    const otherInitramfs = statSync(join(other.outputDir, 'tinyipa.initramfs')).size;
    const otherDirect = await bootTime({ kernel: join(other.outputDir, 'tinyipa.kernel'), initrd: join(other.outputDir, 'tinyipa.initramfs'), append: 'console=ttyS0,115200' });
    json.alternative = { compression: alt, initramfsBytes: otherInitramfs, directSeconds: otherDirect };
    rows.push({ metric: `  for comparison: initramfs with ${alt}`, value: `${(otherInitramfs / 1e6).toFixed(1)} MB`, target: '-', reference: `boots to /v1/status in ${otherDirect.toFixed(1)} s` });

    // cpio throughput on the very tree we ship: unpack it, then pack it both ways.
    const tree = mkdtempSync(join(tmpdir(), 'ramforge-bench-tree-'));
    try {
      // Every member (GNU cpio stops at the first trailer), each through its own decompressor.
      const image = join(out, 'tinyipa.initramfs');
      for (const m of await listInitramfs(image)) {
        const cpio = spawn('cpio', ['-idmu', '--quiet'], { cwd: tree, stdio: ['pipe', 'ignore', 'inherit'] });
        const exited = new Promise<number | null>((resolve) => cpio.on('close', resolve));
        await pipeline(createReadStream(image, { start: m.offset, end: m.offset + m.compressedSize - 1 }), decompressStream(m.compression), cpio.stdin);
        if ((await exited) !== 0) throw new Error(`unpacking member ${m.index} of the initramfs for the cpio benchmark failed`);
      }
      const c = await benchCpio(tree);
      json.cpio = c;
      rows.push({ metric: 'cpio packing, ramforge (same tree)', value: `${c.ours.mbPerS.toFixed(0)} MB/s`, target: '≥ GNU cpio', reference: `GNU cpio: ${c.gnu.mbPerS.toFixed(0)} MB/s` });
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
  if (want('builder')) await builder();
  if (want('agent')) {
    const { agentBench } = await import('./agent.js');
    await agentBench(rows, json);
  }
  if (want('erase')) {
    const { eraseBench } = await import('./erase.js');
    await eraseBench(rows, json);
  }
  const w = Math.max(...rows.map((r) => r.metric.length));
  process.stdout.write(`\n${'metric'.padEnd(w)}  ${'value'.padEnd(22)}  ${'target'.padEnd(12)}  reference\n`);
  for (const r of rows) process.stdout.write(`${r.metric.padEnd(w)}  ${r.value.padEnd(22)}  ${r.target.padEnd(12)}  ${r.reference ?? ''}\n`);
  process.stdout.write('\n' + JSON.stringify(json, null, 2) + '\n');
}

await main();
