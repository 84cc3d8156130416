/**
 * The dpkg element's package-list fetch (pre-install.d/02-ramforge-apt-update,
 * which 99 runs again), under bash with a fake apt-get that records its calls
 * and answers as apt does: lists fetched, a mirror it could not reach (a
 * warning, exit 0), or one of apt's own errors (exit 100). The effect checked
 * is whether apt-get ran, the script's exit, and the stamps it leaves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./builtin-elements/dpkg/pre-install.d/02-ramforge-apt-update', import.meta.url));
const top = mkdtempSync(join(tmpdir(), 'rf-apt-update-'));
after(() => rmSync(top, { recursive: true, force: true }));

const FAKE_APT = `#!/bin/sh
echo "apt-get $*" >> "$FAKE_CALLS"
case "$FAKE_APT_MODE" in
  ok) echo 'Reading package lists...'; : > "$RAMFORGE_APT_LISTS/mirror_dists_bookworm_main_binary-amd64_Packages" ;;
  unreachable) echo "W: Failed to fetch http://mirror/debian/dists/bookworm/InRelease  Temporary failure resolving 'mirror'"
    echo 'W: Some index files failed to download. They have been ignored, or old ones used instead.' ;;
  broken) echo 'E: Malformed entry 1 in list file /etc/apt/sources.list.d/x.list (Component)' >&2; exit 100 ;;
esac
exit 0
`;

function setup(name: string) {
  const dir = join(top, name);
  for (const d of ['bin', 'lists', 'etc/sources.list.d']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'bin/apt-get'), FAKE_APT);
  chmodSync(join(dir, 'bin/apt-get'), 0o755);
  writeFileSync(
    join(dir, 'etc/sources.list.d/ramforge-build.sources'),
    'Types: deb\nURIs: http://mirror/debian\nSuites: bookworm\nComponents: main\n',
  );
  const calls = join(dir, 'calls');
  const run = (mode: string, env: Record<string, string> = {}) => {
    const before = existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').length : 1;
    const r = spawnSync('bash', [SCRIPT], {
      env: {
        PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
        FAKE_CALLS: calls,
        FAKE_APT_MODE: mode,
        RAMFORGE_APT_LISTS: join(dir, 'lists'),
        RAMFORGE_APT_SOURCES: join(dir, 'etc'),
        ...env,
      },
      encoding: 'utf8',
    });
    const after = existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').length : 1;
    return { status: r.status, out: r.stdout + r.stderr, fetched: after > before };
  };
  return { dir, run };
}

test('apt lists: fetched once, then kept for a day with the same sources; new sources or DIB_APT_FORCE_UPDATE fetch again', () => {
  const h = setup('fresh');
  let r = h.run('ok');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.fetched, 'no lists yet: fetched');
  assert.ok(existsSync(join(h.dir, 'lists/ramforge-fetched')));
  r = h.run('ok');
  assert.ok(!r.fetched, 'same sources, fetched just now: not again');
  assert.match(r.out, /less than a day ago/);
  h.run('ok', { DIB_APT_FORCE_UPDATE: '1' });
  assert.ok(h.run('ok', { DIB_APT_FORCE_UPDATE: '1' }).fetched, 'forced');
  // An element adds a repository (pre-install.d, before 99): fetched again.
  writeFileSync(join(h.dir, 'etc/sources.list.d/site.list'), 'deb [trusted=yes] file:/srv/repo ./\n');
  assert.ok(h.run('ok').fetched, 'new sources');
  assert.ok(!h.run('ok').fetched);
  // A day later: fetched again.
  const old = new Date(Date.now() - 25 * 3600_000);
  utimesSync(join(h.dir, 'lists/ramforge-fetched'), old, old);
  assert.ok(h.run('ok').fetched, 'a day old');
  // DIB_OFFLINE with lists: never fetched.
  utimesSync(join(h.dir, 'lists/ramforge-fetched'), old, old);
  assert.ok(!h.run('ok', { DIB_OFFLINE: '1' }).fetched);
});

test('apt lists: a mirror it cannot reach is a warning, the lists from before are used, and it is not tried again for 30 minutes', () => {
  const h = setup('unreachable');
  assert.ok(h.run('ok').fetched);
  const old = new Date(Date.now() - 25 * 3600_000);
  utimesSync(join(h.dir, 'lists/ramforge-fetched'), old, old);
  let r = h.run('unreachable');
  assert.equal(r.status, 0, r.out);
  assert.ok(r.fetched);
  assert.match(r.out, /could not fetch every list/);
  assert.ok(existsSync(join(h.dir, 'lists/ramforge-fetch-failed')));
  r = h.run('unreachable');
  assert.equal(r.status, 0);
  assert.ok(!r.fetched, 'failed a moment ago: not tried again');
  assert.match(r.out, /failed less than 30 minutes ago/);
  // Through a proxy now (or another one, or none any more): the mirror may answer, so it is asked at once.
  r = h.run('unreachable', { http_proxy: 'http://127.0.0.1:3128' });
  assert.ok(r.fetched, 'other proxy settings: tried again');
  assert.ok(!h.run('unreachable', { http_proxy: 'http://127.0.0.1:3128' }).fetched, 'that failure is remembered in turn');
  assert.ok(h.run('unreachable').fetched, 'and without the proxy again: tried again');
  // 31 minutes later it is tried again, and a success clears the failure.
  const then = new Date(Date.now() - 31 * 60_000);
  utimesSync(join(h.dir, 'lists/ramforge-fetch-failed'), then, then);
  assert.ok(h.run('ok').fetched);
  assert.ok(!existsSync(join(h.dir, 'lists/ramforge-fetch-failed')));
});

test("apt lists: apt's own errors still fail the build; no lists and an unreachable mirror leave no stamp", () => {
  const h = setup('broken');
  const r = h.run('broken');
  assert.notEqual(r.status, 0);
  assert.match(r.out, /Malformed entry/);
  assert.ok(!existsSync(join(h.dir, 'lists/ramforge-fetched')));
  const u = h.run('unreachable');
  assert.equal(u.status, 0);
  assert.ok(!existsSync(join(h.dir, 'lists/ramforge-fetch-failed')), 'no lists to fall back on: tried again next time');
  assert.ok(h.run('unreachable').fetched);
});
