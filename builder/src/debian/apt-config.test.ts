import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { aptEnv, preparePrivateApt, sourcesKey } from './apt-config.js';
import type { AptSource } from './sources.js';

const SOURCES: AptSource[] = [
  {
    uris: ['http://deb.example.invalid/debian'],
    suites: ['bookworm'],
    components: ['main'],
    signedBy: '/usr/share/keyrings/example.gpg',
    origin: '/fx/x.sources',
  },
];

test('the private apt config never points at the host state and keeps signatures on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ramforge-aptconf-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = await preparePrivateApt(dir, SOURCES, 'amd64');
  assert.ok(p.root.startsWith(join(dir, 'apt-amd64-')));
  const conf = await readFile(p.configFile, 'utf8');
  for (const key of [
    'Dir::State',
    'Dir::State::status',
    'Dir::Cache',
    'Dir::Etc::SourceList',
    'Dir::Etc::SourceParts',
    'Dir::Etc::Parts',
    'Dir::Etc::Preferences',
    'Dir::Etc::PreferencesParts',
  ]) {
    const m = new RegExp(`^${key} "([^"]+)";$`, 'm').exec(conf);
    assert.ok(m?.[1]?.startsWith(p.root), `${key} is private`);
  }
  assert.match(conf, /^APT::Architectures \{ "amd64"; \};$/m);
  assert.match(conf, /^Debug::NoLocking "true";$/m);
  assert.match(conf, /^Acquire::AllowInsecureRepositories "false";$/m);
  assert.doesNotMatch(conf, /AllowUnauthenticated "true"|allow-insecure/i);
  assert.equal(await readFile(join(p.root, 'state', 'status'), 'utf8'), '');
  assert.match(
    await readFile(join(p.root, 'etc', 'sources.list.d', 'ramforge.sources'), 'utf8'),
    /Signed-By: \/usr\/share\/keyrings\/example\.gpg/,
  );
  assert.equal(aptEnv(p).APT_CONFIG, p.configFile);

  // Preparing again must not touch the files apt checks its cache against.
  const before = (await stat(join(p.root, 'state', 'status'))).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  await preparePrivateApt(dir, SOURCES, 'amd64');
  assert.equal((await stat(join(p.root, 'state', 'status'))).mtimeMs, before);
});

test('the cache key follows the sources and the architecture', () => {
  const k = sourcesKey(SOURCES, 'amd64');
  assert.equal(k, sourcesKey(structuredClone(SOURCES), 'amd64'));
  assert.notEqual(k, sourcesKey(SOURCES, 'arm64'));
  assert.notEqual(k, sourcesKey([{ ...(SOURCES[0] as AptSource), suites: ['trixie'] }], 'amd64'));
  assert.equal(sourcesKey([{ ...(SOURCES[0] as AptSource), origin: 'elsewhere' }], 'amd64'), k, 'where a source was read does not matter');
});
