import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserError } from '../errors.js';
import { applySourceOverride, describeSources, formatDeb822, parseDeb822Sources, parseOneLineSources, readHostSources } from './sources.js';

const DEB822 = `Types: deb
# a comment line
URIs: http://deb.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/example-archive-keyring.gpg

Types: deb deb-src
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main
Architectures: amd64 arm64
Signed-By: /usr/share/keyrings/example-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://off.example.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://inline.example.invalid/debian
Suites: stable
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGA=
 -----END PGP PUBLIC KEY BLOCK-----
`;

const ONE_LINE = `# main archive
deb http://deb.example.invalid/debian bookworm main non-free-firmware
deb-src http://deb.example.invalid/debian bookworm main
deb [arch=amd64,i386 signed-by=/etc/apt/keyrings/a.gpg] http://extra.example.invalid/repo ./
   deb	http://tab.example.invalid/debian bookworm main # trailing comment
`;

test('deb822: deb stanzas only, enabled only, every field', () => {
  const s = parseDeb822Sources(DEB822, '/fx/debian.sources');
  assert.equal(s.length, 3);
  assert.deepEqual(s[0], {
    uris: ['http://deb.example.invalid/debian'],
    suites: ['bookworm', 'bookworm-updates'],
    components: ['main', 'contrib'],
    signedBy: '/usr/share/keyrings/example-archive-keyring.gpg',
    origin: '/fx/debian.sources',
  });
  assert.deepEqual(s[1]?.architectures, ['amd64', 'arm64']);
  assert.equal(s[2]?.signedBy, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGA=\n-----END PGP PUBLIC KEY BLOCK-----');
});

test('one-line: options, exact-path suite, comments, deb-src skipped', () => {
  const s = parseOneLineSources(ONE_LINE, '/fx/sources.list');
  assert.equal(s.length, 3);
  assert.deepEqual(s[0]?.components, ['main', 'non-free-firmware']);
  assert.deepEqual(s[1], {
    uris: ['http://extra.example.invalid/repo'],
    suites: ['./'],
    components: [],
    signedBy: '/etc/apt/keyrings/a.gpg',
    architectures: ['amd64', 'i386'],
    origin: '/fx/sources.list',
  });
  assert.deepEqual(s[2]?.suites, ['bookworm']);
  assert.deepEqual(s[2]?.components, ['main']);
});

test('formatDeb822 round-trips, inline keys included', () => {
  const s = parseDeb822Sources(DEB822, 'x');
  const again = parseDeb822Sources(formatDeb822(s), 'x');
  assert.deepEqual(again, s);
  assert.match(formatDeb822(s), /Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n \.\n mQINBGA=/);
});

test('readHostSources: sources.list then sources.list.d sorted; other suffixes ignored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-sources-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'sources.list.d'));
  await writeFile(join(dir, 'sources.list'), ONE_LINE);
  await writeFile(join(dir, 'sources.list.d', 'b.sources'), DEB822);
  await writeFile(join(dir, 'sources.list.d', 'a.list'), 'deb http://a.example.invalid/debian trixie main\n');
  await writeFile(join(dir, 'sources.list.d', 'c.list.disabled-by-admin'), 'deb http://no.example.invalid/debian sid main\n');
  await writeFile(join(dir, 'sources.list.d', 'd.sources.save'), DEB822);
  const s = await readHostSources(dir);
  assert.deepEqual(
    s.map((x) => x.uris[0]),
    [
      'http://deb.example.invalid/debian',
      'http://extra.example.invalid/repo',
      'http://tab.example.invalid/debian',
      'http://a.example.invalid/debian',
      'http://deb.example.invalid/debian',
      'http://security.example.invalid/debian-security',
      'http://inline.example.invalid/debian',
    ],
  );
  assert.equal(s[3]?.origin, join(dir, 'sources.list.d', 'a.list'));
});

test('readHostSources: nothing configured is a UserError with the fix', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-sources-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'sources.list'), '# nothing here\ndeb-src http://x.example.invalid/debian bookworm main\n');
  await assert.rejects(readHostSources(dir), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /no apt sources are configured/);
    assert.match(e.hint ?? '', /mirror.*suite.*components/);
    return true;
  });
});

test('applySourceOverride keeps the keyring of the same mirror', () => {
  const host = parseDeb822Sources(DEB822, '/fx/debian.sources');
  assert.equal(applySourceOverride(host, {}), host);
  const suite = applySourceOverride(host, { suite: 'trixie' });
  assert.deepEqual(suite[0]?.uris, ['http://deb.example.invalid/debian']);
  assert.deepEqual(suite[0]?.suites, ['trixie']);
  assert.equal(suite[0]?.signedBy, '/usr/share/keyrings/example-archive-keyring.gpg');
  const same = applySourceOverride(host, { mirror: 'http://security.example.invalid/debian-security/', suite: 'x', components: ['main'] });
  assert.equal(same[0]?.signedBy, '/usr/share/keyrings/example-archive-keyring.gpg');
  const other = applySourceOverride(host, { mirror: 'http://other.example.invalid/debian', suite: 'sid', components: ['main'] });
  assert.equal(other[0]?.signedBy, undefined);
  assert.throws(() => applySourceOverride([], { components: ['main'] }), UserError);
});

test('describeSources names suites and files', () => {
  const host = parseDeb822Sources(DEB822, '/fx/debian.sources');
  assert.equal(describeSources(host), 'bookworm, bookworm-updates, bookworm-security, stable (mirror from /fx/debian.sources)');
});
