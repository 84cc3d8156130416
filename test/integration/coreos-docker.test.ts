/**
 * The coreos flavor's Docker half against a real engine (a private dockerd,
 * test/support/dockerd.ts): a base image imported from a rootfs tar through
 * the API (apt sources blanked), a Dockerfile built with the context
 * streamed as a tar, the image exported (container created, never
 * started, removed) and normalised; the same image saved by the engine
 * (`docker save`, getImage().get()) and flattened by ramforge gives the
 * very same tree. A failing step fails with its output; no container is
 * left behind on any path; no engine at DOCKER_HOST is a clear error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { Tree } from '../../builder/src/tree/tree.js';
import { tarStream } from '../../builder/src/archive/tar-writer.js';
import { connectEngine, engineProblem } from '../../builder/src/docker/engine.js';
import { BLANK_SOURCES, importBaseImage } from '../../builder/src/docker/base-image.js';
import { buildImage } from '../../builder/src/docker/build-image.js';
import { exportImageInto } from '../../builder/src/docker/export-container.js';
import { flattenImage, readImageArchive } from '../../builder/src/docker/image-archive.js';
import { addInitLayer, removeEngineArtefacts, writeContainerArchive } from '../../builder/src/docker/container-tree.js';
import { startDockerd, type PrivateDockerd } from '../support/dockerd.js';

const EPOCH = 1767225600;
const dir = mkdtempSync(join(tmpdir(), 'ramforge-coreos-docker-'));
let engine: PrivateDockerd;
let docker: Docker;
const lines: string[] = [];
const log = (l: string) => lines.push(l);

before(async () => {
  engine = await startDockerd();
  docker = await connectEngine({ DOCKER_HOST: engine.host });
});
after(async () => {
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A tiny base rootfs: busybox, an apt sources file naming a mirror, a file a layer deletes, a dir a layer replaces. */
async function baseTarball(): Promise<string> {
  const t = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
  t.addFile('bin/busybox', { source: '/bin/busybox' }, { mode: 0o755 });
  for (const a of ['sh', 'rm', 'mkdir', 'echo', 'ln', 'chown', 'false', 'true', 'cat']) t.addSymlink(`bin/${a}`, 'busybox');
  t.addFile('etc/apt/sources.list', Buffer.from('deb http://mirror.invalid/debian bookworm main\n'));
  t.addFile('etc/doomed', Buffer.from('deleted by a layer\n'));
  t.addFile('opt/old/file', Buffer.from('replaced\n'));
  t.addDir('tmp', { mode: 0o1777 });
  const out = join(dir, 'base.tar');
  await pipeline(tarStream(t.entries(), { epoch: EPOCH }), createWriteStream(out));
  return out;
}

const DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN rm /etc/doomed && rm -r /opt/old && mkdir -p /opt/old /srv/data && echo new > /opt/old/new && echo x > /srv/data/x && chown 1234:5678 /srv/data/x && ln /srv/data/x /srv/data/x-link
COPY hello.txt /usr/share/hello.txt
CMD ["/bin/sh"]
`;

async function containers(): Promise<number> {
  return (await docker.listContainers({ all: true })).length;
}

test('build, export and normalise; docker save flattened by ramforge gives the same tree', async () => {
  const base = await importBaseImage(docker, { tarball: await baseTarball(), key: 'test1', log });
  assert.equal(base, 'ramforge/debian-base:test1');
  // Imported once: the second call finds it.
  await importBaseImage(docker, { tarball: join(dir, 'base.tar'), key: 'test1', log });
  assert.ok(lines.some((l) => /already in the engine/.test(l)));

  const id = await buildImage(docker, {
    context: [
      { name: 'Dockerfile', content: Buffer.from(DOCKERFILE) },
      { name: 'hello.txt', content: Buffer.from('hello\n') },
    ],
    buildArgs: { BASE: base },
    epoch: EPOCH,
    log,
  });
  assert.ok(
    lines.some((l) => /^Step 3\/5 : RUN rm/.test(l)),
    'step lines reach the task log',
  );

  const exported = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
  await exportImageInto(docker, id, exported);
  assert.equal(await containers(), 0, 'the export container is removed');
  assert.deepEqual(removeEngineArtefacts(exported).sort(), ['.dockerenv', 'dev/console', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
  assert.equal(exported.get('etc/doomed'), undefined);
  assert.equal(exported.get('opt/old/file'), undefined);
  assert.equal(exported.get('etc/apt/sources.list')?.data?.toString(), BLANK_SOURCES);
  assert.equal(exported.get('srv/data/x')?.uid, 1234);
  assert.equal(exported.get('srv/data/x')?.gid, 5678);

  const saved = join(dir, 'saved.tar');
  await pipeline((await docker.getImage(id).get()) as NodeJS.ReadableStream, createWriteStream(saved));
  const flat = new Tree({ storeDir: join(dir, 'store'), usrMerge: false });
  const image = await readImageArchive(saved, join(dir, 'scratch'));
  assert.equal(image.format, 'docker-save');
  await flattenImage(flat, image);
  addInitLayer(flat, EPOCH);
  removeEngineArtefacts(flat);

  const a = await writeContainerArchive(exported, join(dir, 'exported.tar.gz'), EPOCH);
  const b = await writeContainerArchive(flat, join(dir, 'flattened.tar.gz'), EPOCH);
  const list = (t: Tree) =>
    t.entries().map((e) => `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${Math.min(e.mtime, EPOCH)}`);
  assert.deepEqual(list(flat), list(exported));
  assert.equal(b.treeSha256, a.treeSha256, 'the same tar, byte for byte');
  assert.equal(b.sha256, a.sha256);
  // Deterministic: writing again gives the same bytes.
  const again = await writeContainerArchive(exported, join(dir, 'again.tar.gz'), EPOCH);
  assert.equal(again.sha256, a.sha256);
  assert.equal(readFileSync(join(dir, 'again.tar.gz')).subarray(4, 8).readUInt32LE(0), 0, 'gzip header mtime 0');
});

test('a failing Dockerfile step fails with its output and leaves no container', async () => {
  const before = await containers();
  await assert.rejects(
    buildImage(docker, {
      context: [{ name: 'Dockerfile', content: Buffer.from('ARG BASE\nFROM ${BASE}\nRUN echo the-step-said-this && false\n') }],
      buildArgs: { BASE: 'ramforge/debian-base:test1' },
      epoch: EPOCH,
      log,
    }),
    (e: Error) => {
      assert.match(e.message, /^Docker build failed at Step 3\/3 : RUN echo the-step-said-this && false: .*non-zero code: 1/);
      assert.match(e.message, /\nthe-step-said-this/);
      return true;
    },
  );
  assert.equal(await containers(), before, 'intermediate containers removed (forcerm)');
});

test('no engine at DOCKER_HOST names it and the way out', async () => {
  const problem = await engineProblem({ DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` });
  assert.match(problem ?? '', /no Docker engine: DOCKER_HOST=unix:\/\/.*nothing\.sock does not exist/);
  await assert.rejects(connectEngine({ DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` }), (e: Error & { hint?: string }) => {
    assert.match(e.hint ?? '', /DOCKER_HOST/);
    assert.match(e.hint ?? '', /coreos\.container/);
    return true;
  });
});

const CLI = join(import.meta.dirname, '..', '..', 'ramforge');
function cli(args: string[], env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(CLI, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 5 * 60_000 });
  return { status: r.status, stderr: r.stderr };
}

test('ramforge build --flavor coreos: no engine, or a bad cloud-config, is one clear error, exit 2, output untouched', () => {
  const out = join(dir, 'cli-out');
  const noEngine = cli(['build', '--flavor', 'coreos', '--no-iso', '--no-install', '--output', out], {
    DOCKER_HOST: `unix://${join(dir, 'none.sock')}`,
  });
  assert.equal(noEngine.status, 2, noEngine.stderr);
  assert.match(noEngine.stderr, /DOCKER_HOST=unix:\/\/.*none\.sock does not exist/);
  assert.match(noEngine.stderr, /coreos\.container/);
  assert.equal(existsSync(out), false);

  writeFileSync(join(dir, 'bad.yml'), '#cloud-config\ncoreos:\n  units:\n    - name: x.service\n      comand: start\n');
  writeFileSync(join(dir, 'spec.yaml'), 'flavor: coreos\niso: false\ncoreos:\n  cloudConfig: [bad.yml]\n');
  const bad = cli(['build', '--spec', 'spec.yaml', '--no-install', '--output', out], { DOCKER_HOST: engine.host });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /coreos\.cloudConfig\[0\] \(.*bad\.yml\) coreos\.units\[0\]\.comand: unknown key 'comand' \(did you mean 'command'\?\)/,
  );
  assert.equal(existsSync(out), false);
});
