/**
 * The shared Debian base (builder/src/debian/mmdebstrap.ts) against the
 * host's real mirror: two builds of the same request give the same tar
 * bytes (the second from the private .deb cache, not the cached tarball),
 * a third call is served from the cache, and extraction keeps owners,
 * modes and device nodes. Needs: mmdebstrap, root (CI) or uidmap.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256File } from '../../builder/src/debian/apt.js';
import { debianBase, extractBase, hostRelease, type BaseRequest } from '../../builder/src/debian/mmdebstrap.js';

let work: string;
const env = () => ({ cacheDir: join(work, 'cache'), log: () => {}, signal: new AbortController().signal });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ramforge-base-'));
});
after(() => rm(work, { recursive: true, force: true }));

test('two mmdebstrap runs give identical tar bytes; the third is the cached tarball; extraction keeps owners and devices', {
  timeout: 600_000,
}, async (t) => {
  const req: BaseRequest = { release: hostRelease() ?? 'bookworm', variant: 'essential', include: ['passwd'], epoch: 1700000000 };
  let t0 = Date.now();
  const first = await debianBase(req, env());
  const coldMs = Date.now() - t0;
  const sum = await sha256File(first.tarball);
  await rm(first.tarball);
  t0 = Date.now();
  const second = await debianBase(req, env());
  const debCacheMs = Date.now() - t0;
  assert.equal(second.key, first.key);
  assert.equal(await sha256File(second.tarball), sum, 'the same request gave different bytes');
  const mtime = (await stat(second.tarball)).mtimeMs;
  const third = await debianBase({ ...req, include: ['passwd', 'passwd'] }, env());
  assert.equal(third.tarball, second.tarball);
  assert.equal((await stat(third.tarball)).mtimeMs, mtime, 'served from the cache, not rebuilt');
  t.diagnostic(`essential+passwd: cold ${coldMs} ms, from the .deb cache ${debCacheMs} ms`);

  const root = join(work, 'root');
  await extractBase(second.tarball, root);
  const shadow = await lstat(join(root, 'etc/shadow'));
  assert.equal(shadow.gid, 42, '/etc/shadow keeps group shadow');
  assert.equal(shadow.mode & 0o777, 0o640);
  const machineId = await stat(join(root, 'etc/machine-id')).catch(() => undefined);
  assert.ok(!machineId || machineId.size === 0, 'no machine-id baked in');
  assert.deepEqual(await readdir(join(root, 'var/lib/apt/lists')).then((l) => l.filter((n) => n !== 'lock' && n !== 'partial')), []);
  if (process.getuid?.() === 0) assert.ok((await lstat(join(root, 'dev/null'))).isCharacterDevice(), '/dev/null is a device node');
});
