/**
 * The flavor contract, from outside builder/src/flavors/: a stub flavor (a
 * kernel file and one verbatim, already compressed member) builds kernel,
 * initramfs and ISO through the common tail. The ISO is real (xorriso), so
 * the host's ISO tools are needed; no VM boots: the kernel is a stand-in
 * with a bzImage header, and the test reads the artifacts back instead.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, HostProbeError, InterruptedError, Tree } from '../../builder/src/index.js';
import { run, setInterruptSignal } from '../../builder/src/exec/run.js';
import { OWNER_FILE, currentOwner } from '../../builder/src/workspace.js';
import { writeInitramfs } from '../../builder/src/archive/initramfs.js';
import { listInitramfs } from '../../builder/src/archive/initramfs-list.js';
import { readCpio } from '../../builder/src/archive/cpio-reader.js';
import { decompressStream } from '../../builder/src/archive/compress.js';
import { defineFlavor, type Flavor } from '../../builder/src/flavors/contract.js';

const dir = mkdtempSync(join(tmpdir(), 'ramforge-stub-flavor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Enough of a bzImage for the ISO writer's check: the "HdrS" boot header at 0x202. */
function fakeKernel(path: string): void {
  const k = Buffer.alloc(8192, 0x90);
  k.write('HdrS', 0x202, 'latin1');
  writeFileSync(path, k);
}

async function verbatimMember(path: string): Promise<void> {
  const tree = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
  tree.addFile('etc/stub-release', Buffer.from('STUB=1\n'), { mode: 0o644, mtime: 0, layer: 'stub' });
  await writeInitramfs(path, [{ name: 'base', compression: 'gzip', entries: tree.entries() }]);
}

let probes = 0;
function stubFlavor(kernel: string, member: string, probe: () => Promise<string | undefined>): Flavor<{ base: string }> {
  return defineFlavor<{ base: string }>({
    name: 'stub',
    host: () => ({
      tools: [],
      probes: [
        {
          what: 'the stub probe holds',
          check: () => {
            probes++;
            return probe();
          },
          hint: 'make it hold',
        },
      ],
    }),
    inputs: () => ({ base: { name: 'fetch-base', title: 'Fetch the stub base', run: async () => member } }),
    assemble: async ({ base }) => ({
      kernel: { file: kernel, version: '0.0.0-stub' },
      members: [{ kind: 'verbatim', name: 'base', file: base }],
      facts: { stub: { base } },
    }),
  });
}

test('a stub flavor (kernel + one verbatim member) builds kernel, initramfs and ISO through the common tail', {
  timeout: 10 * 60_000,
}, async () => {
  const kernel = join(dir, 'vmlinuz');
  const member = join(dir, 'base.cpio.gz');
  fakeKernel(kernel);
  await verbatimMember(member);
  const r = await build({
    cwd: dir,
    output: join(dir, 'output'),
    overrides: { name: 'stub', cmdline: 'console=ttyS0', agent: { config: { debug: true } } },
    flavor: stubFlavor(kernel, member, async () => undefined),
    installHostTools: true,
    reuseMembers: false,
  });
  const out = join(dir, 'output', 'stub');
  assert.equal(r.outputDir, out);
  assert.deepEqual(readdirSync(out).sort(), ['SHA256SUMS', 'manifest.json', 'stub.initramfs', 'stub.iso', 'stub.kernel']);
  assert.ok(readFileSync(join(out, 'stub.kernel')).equals(readFileSync(kernel)), "the kernel is the flavor's file");

  // The initramfs: the verbatim member byte for byte, then site (the spec's own layers).
  const image = readFileSync(join(out, 'stub.initramfs'));
  const verbatim = readFileSync(member);
  assert.ok(image.subarray(0, verbatim.length).equals(verbatim), 'member 0 is the verbatim file');
  const members = await listInitramfs(join(out, 'stub.initramfs'));
  assert.deepEqual(
    members.map((m) => m.entries.filter((e) => e.type === 'file').map((e) => e.path)),
    [['etc/stub-release'], ['etc/ironic-python-agent/ramforge.json']],
  );
  const site = members[1]!;
  const stream = createReadStream(join(out, 'stub.initramfs'), { start: site.offset, end: site.offset + site.compressedSize - 1 }).pipe(
    decompressStream(site.compression),
  );
  let config: unknown;
  for await (const e of readCpio(stream, { data: (x) => x.name === 'etc/ironic-python-agent/ramforge.json' }))
    if (e.data) config = JSON.parse(e.data.toString('utf8'));
  assert.equal((config as { debug: boolean }).debug, true);

  // The ISO carries the same kernel and initramfs, and the spec's cmdline.
  const x = spawnSync(
    'xorriso',
    [
      '-osirrox',
      'on',
      '-indev',
      join(out, 'stub.iso'),
      '-extract',
      '/vmlinuz',
      join(dir, 'iso-vmlinuz'),
      '-extract',
      '/initrd',
      join(dir, 'iso-initrd'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(x.status, 0, x.stderr);
  assert.ok(readFileSync(join(dir, 'iso-vmlinuz')).equals(readFileSync(kernel)));
  assert.ok(readFileSync(join(dir, 'iso-initrd')).equals(image));
  assert.match(readFileSync(join(out, 'stub.iso')).toString('latin1'), /console=ttyS0/);

  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.flavor, 'stub');
  assert.equal(manifest.kernel.version, '0.0.0-stub');
  assert.deepEqual(manifest.stub, { base: member });
  assert.deepEqual(
    manifest.initramfsMembers.map((m: { name: string }) => m.name),
    ['base', 'site'],
  );
  assert.ok(manifest.timings['fetch-base'] >= 0, "the flavor's input stage ran as a stage");
  assert.ok(probes >= 1, 'the host probe ran');
});

test('a failing host probe stops the build before any input stage, output/ untouched', { timeout: 5 * 60_000 }, async () => {
  const kernel = join(dir, 'vmlinuz');
  let fetched = false;
  const flavor = stubFlavor(kernel, join(dir, 'base.cpio.gz'), async () => 'it does not');
  const guarded: Flavor<{ base: string }> = {
    ...flavor,
    inputs: () => ({
      base: {
        name: 'fetch-base',
        title: 'Fetch',
        run: async () => {
          fetched = true;
          return '';
        },
      },
    }),
  };
  await assert.rejects(
    build({ cwd: dir, output: join(dir, 'output2'), overrides: { name: 'stub' }, flavor: guarded, installHostTools: true }),
    (e: unknown) => e instanceof HostProbeError && /the stub probe holds: it does not/.test(e.message) && e.hint === 'make it hold',
  );
  assert.equal(fetched, false);
  assert.equal(existsSync(join(dir, 'output2', 'stub')), false);
});

test('an output directory that is a filesystem of its own (a mount point): the build publishes into it and leaves nothing else there', {
  skip: process.getuid?.() === 0 ? false : 'needs root (mounts a tmpfs)',
  timeout: 10 * 60_000,
}, async () => {
  const kernel = join(dir, 'vmlinuz-mnt');
  const member = join(dir, 'base-mnt.cpio.gz');
  fakeKernel(kernel);
  await verbatimMember(member);
  const out = join(dir, 'mounted-output');
  mkdirSync(out);
  // rename() from a workspace beside it (the parent's filesystem) would fail with EXDEV after the whole build.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'ramforge-test-output', out]);
  try {
    writeFileSync(join(out, 'notes.txt'), 'an operator file\n');
    const r = await build({
      cwd: dir,
      output: out,
      overrides: { name: 'stub' },
      flavor: stubFlavor(kernel, member, async () => undefined),
      installHostTools: true,
      reuseMembers: false,
    });
    assert.equal(r.outputDir, join(out, 'stub'));
    assert.deepEqual(readdirSync(out).sort(), ['notes.txt', 'stub'], 'no workspace left in the output directory');
    assert.deepEqual(readdirSync(join(out, 'stub')).sort(), ['SHA256SUMS', 'manifest.json', 'stub.initramfs', 'stub.iso', 'stub.kernel']);
    assert.ok(readFileSync(join(out, 'stub', 'stub.kernel')).equals(readFileSync(kernel)));
  } finally {
    execFileSync('umount', [out]);
  }
});

test('an interrupt stops the build in a stage: its program killed, nothing published, the workspace removed; a later build sweeps a stopped one', {
  timeout: 5 * 60_000,
}, async () => {
  const kernel = join(dir, 'vmlinuz-int');
  const member = join(dir, 'base-int.cpio.gz');
  fakeKernel(kernel);
  await verbatimMember(member);
  const out = join(dir, 'output-int');
  mkdirSync(join(out, 'stub'), { recursive: true });
  writeFileSync(join(out, 'stub', 'stub.kernel'), 'the last good build\n');
  // The workspace of a build that was killed (its process is gone): the next build removes it.
  const wsRoot = join(dir, '.workspace');
  const gone = spawnSync('true').pid;
  const stale = join(wsRoot, 'stub-stale');
  mkdirSync(join(stale, 'staging'), { recursive: true });
  writeFileSync(join(stale, OWNER_FILE), JSON.stringify({ ...(await currentOwner()), pid: gone }));

  const controller = new AbortController();
  setInterruptSignal(controller.signal);
  after(() => setInterruptSignal(undefined));
  const token = `0.${String(process.pid).padStart(7, '0')}${Date.now() % 1000}`; // sleep adds it: an argv no other run has
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const base = stubFlavor(kernel, member, async () => undefined);
  const flavor: Flavor<{ base: string }> = {
    ...base,
    inputs: () => ({
      base: {
        name: 'fetch-base',
        title: 'Fetch slowly',
        run: async () => {
          started();
          // No signal of its own: the process-wide interrupt (what the CLI sets) stops it, and with it the
          // program it started (its process group).
          await run(['sh', '-c', `sleep 61 ${token} & wait`]);
          return member;
        },
      },
    }),
  };
  const logs: string[] = [];
  const t0 = Date.now();
  const p = build({
    cwd: dir,
    output: out,
    overrides: { name: 'stub', iso: false },
    flavor,
    signal: controller.signal,
    installHostTools: true,
    reuseMembers: false,
    log: (l) => logs.push(l),
  });
  await running;
  await new Promise((r) => setTimeout(r, 300));
  controller.abort(new InterruptedError('SIGINT', 2));
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InterruptedError, String(e));
    assert.equal(e.exitCode, 130);
    assert.match(e.message, /^interrupted by SIGINT: stopped; nothing was published \(.*output-int\/stub is as it was\)$/);
    return true;
  });
  assert.ok(Date.now() - t0 < 30_000, 'stopped at once, not when the program ended');
  assert.equal(spawnSync('pgrep', ['-f', token]).status, 1, "the stage's program and the one it started were stopped");
  assert.deepEqual(readdirSync(join(out, 'stub')), ['stub.kernel']);
  assert.equal(readFileSync(join(out, 'stub', 'stub.kernel'), 'utf8'), 'the last good build\n');
  assert.deepEqual(
    readdirSync(wsRoot).filter((n) => n.startsWith('stub-')),
    [],
    'neither the stopped build nor this one left a workspace',
  );
  assert.ok(
    logs.some((l) => l === `removed ${stale}: the workspace of a build that was stopped`),
    logs.join('\n'),
  );
});
