import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseKey, chooseMode, hostRelease, linkDebs, mmdebstrapArgs, sourcesForRelease, type BaseRequest } from './mmdebstrap.js';
import type { AptSource } from './sources.js';

const REQ: BaseRequest = { release: 'bookworm', variant: 'essential', include: ['systemd', 'udev'], epoch: 1700000000 };
const SRC: AptSource[] = [
  { uris: ['http://mirror.invalid/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'], origin: 'a' },
  { uris: ['http://mirror.invalid/debian-security'], suites: ['bookworm-security', 'exact/'], components: ['main'], origin: 'b' },
];

test('the key ignores include order and duplicates, and changes with every input', () => {
  const k = baseKey(REQ, 'S', '1.3.5');
  assert.equal(baseKey({ ...REQ, include: ['udev', 'systemd', 'udev'] }, 'S', '1.3.5'), k);
  const others = [
    baseKey({ ...REQ, release: 'trixie' }, 'S', '1.3.5'),
    baseKey({ ...REQ, variant: 'apt' }, 'S', '1.3.5'),
    baseKey({ ...REQ, include: ['systemd'] }, 'S', '1.3.5'),
    baseKey({ ...REQ, epoch: 1 }, 'S', '1.3.5'),
    baseKey({ ...REQ, arch: 'arm64' }, 'S', '1.3.5'),
    baseKey(REQ, 'other mirror', '1.3.5'),
    baseKey(REQ, 'S', '1.4.0'),
  ];
  assert.equal(new Set([k, ...others]).size, others.length + 1);
});

test("the host's suites follow the requested release; exact paths stay", () => {
  const out = sourcesForRelease(SRC, 'bookworm', 'trixie');
  assert.deepEqual(
    out.map((s) => s.suites),
    [
      ['trixie', 'trixie-updates'],
      ['trixie-security', 'exact/'],
    ],
  );
  assert.equal(sourcesForRelease(SRC, 'bookworm', 'bookworm'), SRC);
  assert.equal(sourcesForRelease(SRC, undefined, 'trixie'), SRC);
});

test('mmdebstrap argv: mode, variant, sorted includes, the deb cache hooks, release, target, sources file last', () => {
  const argv = mmdebstrapArgs({
    req: { ...REQ, include: ['udev', 'systemd'] },
    mode: 'unshare',
    sourcesFile: '/c/debian.sources',
    debCache: "/c/it's",
    target: '/c/x.tar',
  });
  assert.equal(argv[0], '--mode=unshare');
  assert.ok(argv.includes('--variant=essential'));
  assert.ok(argv.includes('--include=systemd,udev'));
  assert.ok(argv.includes('--format=tar'));
  assert.ok(argv.includes(`--setup-hook=sync-in '/c/it'\\''s' /var/cache/apt/archives/`));
  assert.deepEqual(argv.slice(-3), ['bookworm', '/c/x.tar', '/c/debian.sources']);
  assert.ok(
    !mmdebstrapArgs({ req: { ...REQ, include: [] }, mode: 'root', sourcesFile: 's', debCache: 'd', target: 't' }).some((a) =>
      a.startsWith('--include'),
    ),
  );
});

test('mode: root as root, unshare with newuidmap and a subuid range, else one reason naming what is missing', () => {
  assert.deepEqual(chooseMode(0, 'root', false, undefined), { mode: 'root' });
  assert.deepEqual(chooseMode(1000, 'ann', true, 'bob:1:2\nann:100000:65536\n'), { mode: 'unshare' });
  assert.deepEqual(chooseMode(1000, 'ann', true, '1000:100000:65536\n'), { mode: 'unshare' });
  const none = chooseMode(1000, 'ann', false, undefined);
  assert.equal(none.mode, 'none');
  assert.match((none as { reason: string }).reason, /newuidmap \(package uidmap\) and a range for ann in \/etc\/subuid/);
  assert.match((chooseMode(1000, 'ann', true, 'bob:1:2\n') as { reason: string }).reason, /needs a range for ann in \/etc\/subuid$/);
});

test('hostRelease reads VERSION_CODENAME, quoted or not', () => {
  const d = mkdtempSync(join(tmpdir(), 'osrel-'));
  try {
    writeFileSync(join(d, 'a'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    writeFileSync(join(d, 'b'), 'VERSION_CODENAME="trixie"\n');
    assert.equal(hostRelease(join(d, 'a')), 'bookworm');
    assert.equal(hostRelease(join(d, 'b')), 'trixie');
    assert.equal(hostRelease(join(d, 'missing')), undefined);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('linkDebs: links the .debs the target lacks, keeps what it has, ignores the rest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-debs-'));
  try {
    const from = join(dir, 'from');
    const to = join(dir, 'to');
    await mkdir(join(from, 'partial'), { recursive: true });
    await mkdir(to);
    await writeFile(join(from, 'a_1_amd64.deb'), 'a');
    await writeFile(join(from, 'b_1_amd64.deb'), 'new b');
    await writeFile(join(from, 'lock'), '');
    await writeFile(join(to, 'b_1_amd64.deb'), 'old b');
    assert.equal(await linkDebs(from, to), 1);
    assert.deepEqual((await readdir(to)).sort(), ['a_1_amd64.deb', 'b_1_amd64.deb']);
    assert.equal(await readFile(join(to, 'b_1_amd64.deb'), 'utf8'), 'old b');
    assert.equal((await stat(join(to, 'a_1_amd64.deb'))).ino, (await stat(join(from, 'a_1_amd64.deb'))).ino);
    assert.equal(await linkDebs(join(dir, 'missing'), join(dir, 'new')), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
