/**
 * apt against the host's real mirror with a private state dir: resolve,
 * download, the warm cache, corrupt-cache recovery, errors, extraction.
 * Needs: apt, dpkg-deb, and the host's apt sources reaching a mirror.
 */
import assert from 'node:assert/strict';
import { open, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BuildError, UserError } from '../../builder/src/errors.js';
import { AptRepo, SCRIPT_ONLY_PACKAGES, sha256File } from '../../builder/src/debian/apt.js';
import { DEFAULT_PRUNE, extractDeb } from '../../builder/src/debian/extract.js';
import { readHostSources, type AptSource } from '../../builder/src/debian/sources.js';
import { Tree } from '../../builder/src/tree/tree.js';

let work: string;
let sources: AptSource[];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ramforge-debian-'));
  sources = await readHostSources();
});
after(() => rm(work, { recursive: true, force: true }));

function treeText(tree: Tree, path: string): Promise<string> | string {
  const e = tree.get(path);
  assert.ok(e && e.type === 'file', `${path} is a file in the tree`);
  return e.data ? e.data.toString('utf8') : readFile(e.source as string, 'utf8');
}

test('resolve + download busybox-static and libc6; the second run is served from the cache', { timeout: 300_000 }, async (t) => {
  const cacheDir = join(work, 'cache');
  let t0 = Date.now();
  const repo = new AptRepo({ cacheDir, sources });
  const resolved = await repo.resolve(['busybox-static', 'libc6']);
  const names = resolved.map((p) => p.name);
  for (const n of ['busybox-static', 'libc6', 'libgcc-s1', 'gcc-12-base']) assert.ok(names.includes(n) || n !== 'libc6', n);
  assert.ok(names.includes('busybox-static') && names.includes('libc6'));
  const cold = await repo.download(resolved);
  const coldMs = Date.now() - t0;
  for (const d of cold) {
    assert.equal((await stat(d.path)).size, d.size);
    assert.equal(await sha256File(d.path), d.sha256);
  }
  const before = await Promise.all(cold.map(async (d) => (await stat(d.path)).mtimeMs));

  t0 = Date.now();
  const again = new AptRepo({ cacheDir, sources }); // a new build: lists and .debs come from the cache
  const warm = await again.download(await again.resolve(['busybox-static', 'libc6']));
  const warmMs = Date.now() - t0;
  assert.deepEqual(warm, cold);
  assert.deepEqual(await Promise.all(warm.map(async (d) => (await stat(d.path)).mtimeMs)), before, 'no file was downloaded again');
  t.diagnostic(`busybox-static+libc6 (${cold.length} debs): cold ${coldMs} ms (incl. apt update), warm ${warmMs} ms`);

  const store = join(work, 'store');
  const tree = new Tree({ storeDir: store });
  for (const d of warm) await extractDeb(tree, d, { exclude: DEFAULT_PRUNE });
  assert.equal(tree.get('usr/bin/busybox')?.type, 'file');
  assert.ok((tree.get('usr/bin/busybox')?.mode ?? 0) & 0o111);
  assert.equal(tree.get('bin/busybox')?.path, 'usr/bin/busybox', 'usr-merge canonicalises bin/');
  assert.equal(tree.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.type, 'file');
  assert.equal(tree.get('usr/lib64/ld-linux-x86-64.so.2')?.type, 'symlink');
  assert.equal(tree.get('usr/lib/x86_64-linux-gnu/libc.so.6')?.layer, 'deb:libc6');
  assert.ok(tree.has('usr/share/doc/libc6/copyright'));
  assert.ok(!tree.has('usr/share/doc/libc6/changelog.Debian.gz'));
  assert.ok(!tree.entries().some((e) => e.path.startsWith('usr/share/locale/') && e.type === 'file'));
  assert.match(await treeText(tree, 'usr/share/doc/libc6/copyright'), /GNU/);
});

test('a corrupt cached .deb (truncated, or garbage of the right size) is downloaded again', { timeout: 300_000 }, async () => {
  const repo = new AptRepo({ cacheDir: join(work, 'cache'), sources });
  const [bb, libc] = await repo
    .download(await repo.resolve(['busybox-static', 'libc6=' + (await repo.resolve(['libc6'])).find((p) => p.name === 'libc6')?.version]))
    .then((all) => [all.find((d) => d.name === 'busybox-static'), all.find((d) => d.name === 'libc6')]);
  assert.ok(bb && libc);
  await truncate(bb.path, 1000);
  const fh = await open(libc.path, 'r+');
  await fh.write(Buffer.alloc(4096, 0x5a), 0, 4096, 1024); // same size, wrong bytes: apt's size check alone would accept it
  await fh.close();
  const fixed = await repo.download([bb, libc]);
  for (const d of fixed) assert.equal(await sha256File(d.path), d.sha256, `${d.name} repaired`);
});

test('unknown package, unknown version and unknown kernel-like names are UserErrors naming the suite', { timeout: 120_000 }, async () => {
  const repo = new AptRepo({ cacheDir: join(work, 'cache'), sources });
  await assert.rejects(repo.resolve(['busybox-static', 'no-such-package-ramforge']), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, /^package 'no-such-package-ramforge' is not in .*\(mirror from \/etc\/apt\//);
    assert.match(e.hint ?? '', /apt-cache search/);
    return true;
  });
  await assert.rejects(
    repo.resolve(['libc6=0.0-does-not-exist']),
    (e: unknown) => e instanceof UserError && /version '0\.0-does-not-exist' of package 'libc6'/.test(e.message),
  );
});

test('an unreachable mirror is a BuildError naming the URI', { timeout: 120_000 }, async () => {
  const dead: AptSource[] = [
    {
      uris: ['http://127.0.0.1:9/debian'],
      suites: ['bookworm'],
      components: ['main'],
      signedBy: sources[0]?.signedBy ?? '',
      origin: 'test',
    },
  ];
  const repo = new AptRepo({ cacheDir: join(work, 'dead'), sources: dead });
  await assert.rejects(repo.resolve(['busybox-static']), (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.match(e.message, /http:\/\/127\.0\.0\.1:9\/debian/);
    assert.match(e.hint ?? '', /reachable/);
    return true;
  });
});

test('a damaged .deb that apt did not fetch fails extraction with a BuildError naming the file', { timeout: 60_000 }, async () => {
  const bad = join(work, 'garbage.deb');
  await writeFile(bad, 'not an ar archive');
  const tree = new Tree({ storeDir: join(work, 'store2') });
  await assert.rejects(
    extractDeb(tree, { name: 'garbage', version: '1', arch: 'amd64', path: bad, size: 17, sha256: '' }),
    (e: unknown) => e instanceof BuildError && e.message.includes(bad),
  );
});

test('stale lists and an unreachable mirror: a warm cache still builds, with a warning', { timeout: 120_000 }, async () => {
  const cacheDir = join(work, 'cache');
  const warmRepo = new AptRepo({ cacheDir, sources });
  const stamp = join(await warmRepo.cachePath(), 'updated');
  const failed = join(await warmRepo.cachePath(), 'fetch-failed');
  const old = new Date(Date.now() - 3 * 86400_000);
  await utimes(stamp, old, old);
  const saved = process.env.http_proxy;
  process.env.http_proxy = 'http://127.0.0.1:9'; // nothing listens: every fetch fails
  try {
    const debs = await warmRepo.fetchPackages(['busybox-static', 'libc6']);
    assert.ok(debs.some((d) => d.name === 'busybox-static'));
    assert.equal(warmRepo.warnings.length, 1);
    assert.match(warmRepo.warnings[0] ?? '', /using the package lists from/);
    assert.match(await readFile(failed, 'utf8'), /./, 'the failed refresh is remembered');
    // The next build does not ask the mirror again for 30 minutes: it says so and how to force it.
    const next = new AptRepo({ cacheDir, sources });
    assert.ok((await next.fetchPackages(['busybox-static'])).some((d) => d.name === 'busybox-static'));
    assert.equal(next.warnings.length, 1);
    assert.match(next.warnings[0] ?? '', /the last try failed 0 min ago .*RAMFORGE_APT_UPDATE=1/);
    // Other proxy settings may reach the mirror: it is asked at once (here it fails again, and that is remembered).
    process.env.http_proxy = 'http://127.0.0.1:10';
    const proxied = new AptRepo({ cacheDir, sources });
    await proxied.fetchPackages(['busybox-static']);
    assert.match(proxied.warnings[0] ?? '', /using the package lists from/);
    const again = new AptRepo({ cacheDir, sources });
    await again.fetchPackages(['busybox-static']);
    assert.match(again.warnings[0] ?? '', /the last try failed 0 min ago/);
    // Older than that, it asks again (and, failing, remembers the new failure).
    const old30 = new Date(Date.now() - 31 * 60_000);
    await utimes(failed, old30, old30);
    const later = new AptRepo({ cacheDir, sources });
    await later.fetchPackages(['busybox-static']);
    assert.match(later.warnings[0] ?? '', /using the package lists from/);
    assert.ok((await stat(failed)).mtimeMs > old30.getTime() + 60_000, 'the new failure is remembered');
    // A forced update always asks, and fails loudly.
    await assert.rejects(new AptRepo({ cacheDir, sources }).update({ force: true }), BuildError);
  } finally {
    if (saved === undefined) delete process.env.http_proxy;
    else process.env.http_proxy = saved;
  }

  // The mirror is back, but the failure is remembered, and the stale lists name a file the mirror does not have
  // (as when a security update replaced a version): the download fails, the lists are fetched, the second try works.
  const root = await warmRepo.cachePath();
  const lists = join(root, 'state/lists');
  const main = (await readdir(lists)).find((f) => /_dists_bookworm_main_binary-amd64_Packages$/.test(f));
  assert.ok(main, `the bookworm main Packages list in ${lists}`);
  const text = await readFile(join(lists, main), 'utf8');
  const stale = text.replace(
    /^(Package: hello\n(?:(?!Filename:).+\n)*)Filename: .*$/m,
    '$1Filename: pool/main/h/hello/hello_0-gone_amd64.deb',
  );
  assert.notEqual(stale, text, 'the hello entry was edited');
  await writeFile(join(lists, main), stale);
  // Without its InRelease, apt takes the mirror's as new and checks the lists against it (as after a mirror update).
  await rm(join(lists, main.replace(/_main_binary-amd64_Packages$/, '_InRelease')));
  await utimes(stamp, old, old);
  await writeFile(failed, 'the mirror could not be reached\n');
  const retry = new AptRepo({ cacheDir, sources });
  const said: string[] = [];
  const hello = await retry.retryWithFreshLists(
    () => retry.fetchPackages(['hello']),
    (l) => said.push(l),
  );
  assert.ok(
    hello.some((d) => d.name === 'hello' && !d.path.includes('gone')),
    JSON.stringify(hello),
  );
  assert.match(retry.warnings[0] ?? '', /not refreshed/);
  assert.match(said.join('\n'), /lists fetched, trying once more/);
  // The refresh forgot the failure.
  await assert.rejects(stat(failed), { code: 'ENOENT' });
});

const TINYIPA_SET = [
  'busybox-static',
  'libc6',
  'libstdc++6',
  'libgcc-s1',
  'util-linux',
  'fdisk',
  'gdisk',
  'parted',
  'dmidecode',
  'qemu-utils',
  'ipmitool',
  'hdparm',
  'nvme-cli',
  'efibootmgr',
  'e2fsprogs',
  'dosfstools',
  'kmod',
  'udev',
];

test('typical tinyipa package set: cold and warm resolve+download; assumeInstalled keeps perl out', { timeout: 600_000 }, async (t) => {
  const cacheDir = join(work, 'tinyipa');
  const opts = { assumeInstalled: SCRIPT_ONLY_PACKAGES };
  let t0 = Date.now();
  const cold = await new AptRepo({ cacheDir, sources }).fetchPackages(TINYIPA_SET, opts);
  const coldMs = Date.now() - t0;
  t0 = Date.now();
  const warm = await new AptRepo({ cacheDir, sources }).fetchPackages(TINYIPA_SET, opts);
  const warmMs = Date.now() - t0;
  assert.deepEqual(warm, cold);
  const names = new Set(cold.map((d) => d.name));
  for (const n of TINYIPA_SET) assert.ok(names.has(n), n);
  for (const n of ['perl-base', 'perl', 'dpkg', 'debconf', 'usrmerge']) assert.ok(!names.has(n), `${n} is assumed, not fetched`);
  const full = await new AptRepo({ cacheDir, sources }).resolve(TINYIPA_SET);
  assert.ok(
    full.some((p) => p.name === 'perl-base'),
    'without assumeInstalled the maintainer-script dependencies come in',
  );
  const asked = await new AptRepo({ cacheDir, sources }).resolve(['dpkg'], opts);
  assert.ok(
    asked.some((p) => p.name === 'dpkg'),
    'a package named explicitly is never assumed',
  );
  const mb = cold.reduce((a, d) => a + d.size, 0) / 1e6;
  t.diagnostic(
    `tinyipa set: ${cold.length} debs (${full.length} without assumeInstalled), ${mb.toFixed(1)} MB; cold ${coldMs} ms (incl. apt update), warm ${warmMs} ms`,
  );
});
