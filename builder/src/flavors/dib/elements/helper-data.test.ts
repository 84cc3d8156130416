import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AptSource } from '../../../debian/sources.js';
import { mergeSvcMaps, writeAptData, writePackageInstalls, writeSvcMap } from './helper-data.js';
import { collectPackageInstalls, emptySquashed } from './package-installs.js';
import { tempDir, writeTree } from './test-trees.js';

const HOST: AptSource[] = [
  { uris: ['http://mirror.test/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'], signedBy: '/k.gpg', origin: 'a' },
  { uris: ['http://mirror.test/debian-security'], suites: ['bookworm-security'], components: ['main'], origin: 'a' },
];

test('apt/sources lines and keyrings in the hook tree', (t) => {
  const dir = tempDir(t);
  writeTree(dir, { 'k.gpg': 'KEY' });
  writeAptData(join(dir, 'hooks'), [{ ...HOST[0]!, signedBy: join(dir, 'k.gpg') }, HOST[1]!]);
  assert.equal(
    readFileSync(join(dir, 'hooks/ramforge-data/apt/sources'), 'utf8'),
    'http://mirror.test/debian bookworm source-0-k.gpg\nhttp://mirror.test/debian bookworm-updates source-0-k.gpg\nhttp://mirror.test/debian-security bookworm-security -\n',
  );
  assert.equal(readFileSync(join(dir, 'hooks/ramforge-data/apt/keyrings/source-0-k.gpg'), 'utf8'), 'KEY');
});

test('svc-map: distro < family < default, and a service mapped twice is an error', (t) => {
  const dir = writeTree(tempDir(t), {
    'a/svc-map': 'ntp:\n  default: ntpd\n  debian: chrony\nweb:\n  redhat: httpd\n  default: apache2\nplain:\n',
    'b/svc-map': 'ssh:\n  debian: ssh\n  default: sshd\n',
    'c/svc-map': 'ntp:\n  default: x\n',
  });
  const el = (n: string) => ({ name: n, path: join(dir, n) });
  assert.deepEqual(mergeSvcMaps([el('a'), el('b')], 'debian'), { ntp: 'chrony', web: 'apache2', plain: 'plain', ssh: 'ssh' });
  assert.deepEqual(mergeSvcMaps([el('a')], 'centos').web, 'httpd');
  assert.throws(() => mergeSvcMaps([el('a'), el('c')], 'debian'), /service ntp is mapped by elements a and c/);
  writeSvcMap(join(dir, 'hooks'), { web: 'apache2', ntp: 'chrony' });
  assert.equal(readFileSync(join(dir, 'hooks/ramforge-data/svc-map/services.tsv'), 'utf8'), 'ntp\tchrony\nweb\tapache2\n');
});

test("svc-map YAML as DIB's yaml.safe_load reads it: a repeated key keeps its last value, `<<:` merges", (t) => {
  const dir = writeTree(tempDir(t), {
    'a/svc-map':
      'ntp:\n  debian: ntpd\nntp:\n  debian: chrony\nbase: &names\n  default: web\n  debian: apache2\nhttpd:\n  <<: *names\n  redhat: httpd\n',
  });
  const el = (n: string) => ({ name: n, path: join(dir, n) });
  assert.deepEqual(mergeSvcMaps([el('a')], 'debian'), { ntp: 'chrony', base: 'apache2', httpd: 'apache2' });
  assert.equal(mergeSvcMaps([el('a')], 'centos').httpd, 'httpd');
  assert.equal(mergeSvcMaps([el('a')], 'gentoo').httpd, 'web');
});

test('the per-phase package lists, names through the pkg-maps', (t) => {
  const hooks = tempDir(t);
  const maps = new Map([
    ['site', { default: { editor: 'vim', gone: '' }, distro: { debian: { editor: 'nano' } } }],
    ['plain', undefined],
  ]);
  const sq = emptySquashed();
  collectPackageInstalls(
    sq,
    { editor: null, gone: null, tool: { 'build-only': null }, early: { phase: 'pre-install.d' } },
    'site',
    'f',
    {},
  );
  const lists = writePackageInstalls(hooks, sq, maps, { distro: 'debian', release: 'bookworm' });
  assert.deepEqual(lists['install.d'], { install: ['nano', 'tool'], uninstall: ['tool'] });
  assert.equal(readFileSync(join(hooks, 'ramforge-data/package-installs/install.d.install'), 'utf8'), 'nano\ntool\n');
  assert.equal(readFileSync(join(hooks, 'ramforge-data/package-installs/pre-install.d.install'), 'utf8'), 'early\n');
  assert.equal(readFileSync(join(hooks, 'ramforge-data/package-installs/post-install.d.install'), 'utf8'), '');
});
