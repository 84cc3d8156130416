/**
 * Kernel from the host's real mirror: fetch + unpack (cached), module
 * selection closed over modules.dep, the subset's own depmod index in the
 * Tree, reproducibly. Needs: apt, dpkg-deb, kmod (depmod).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UserError } from '../../builder/src/errors.js';
import { AptRepo } from '../../builder/src/debian/apt.js';
import { addKernelModules, fetchKernel } from '../../builder/src/debian/kernel.js';
import { DEFAULT_MODULE_SETS, selectModules } from '../../builder/src/debian/modules.js';
import { readHostSources } from '../../builder/src/debian/sources.js';
import { Tree } from '../../builder/src/tree/tree.js';
import type { TreeEntry } from '../../builder/src/tree/types.js';

let work: string;
let repo: AptRepo;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ramforge-kernel-'));
  // RAMFORGE_TEST_APT_CACHE lets repeated runs share downloads; default: a cold cache.
  repo = new AptRepo({ cacheDir: process.env.RAMFORGE_TEST_APT_CACHE ?? join(work, 'cache'), sources: await readHostSources() });
});
after(() => rm(work, { recursive: true, force: true }));

async function content(e: TreeEntry | undefined): Promise<Buffer> {
  assert.ok(e && e.type === 'file');
  return e.data ?? readFile(e.source as string);
}

test('cloud kernel: virtio+net+storage modules with their own modules.dep', { timeout: 600_000 }, async (t) => {
  let t0 = Date.now();
  const k = await fetchKernel(repo, 'linux-image-cloud-amd64');
  const coldMs = Date.now() - t0;
  assert.match(k.version, /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  assert.ok((await stat(k.vmlinuz)).size > 4 << 20);
  assert.match(k.package.name, /^linux-image-\d.*-cloud-amd64$/);
  t0 = Date.now();
  const again = await fetchKernel(repo, 'linux-image-cloud-amd64');
  const warmMs = Date.now() - t0;
  assert.equal(again.modulesDir, k.modulesDir, 'the unpacked kernel is reused');

  const mods = await selectModules(k.modulesDir, ['virtio', 'net', 'storage']);
  assert.ok(mods.some((m) => m.endsWith('/virtio_net.ko')));
  assert.ok(
    mods.some((m) => m.endsWith('/net_failover.ko')),
    "virtio_net's dependency is included",
  );
  // The cloud kernel has nvme built in; virtio_blk and sd_mod are modules.
  for (const m of ['/virtio_blk.ko', '/sd_mod.ko', '/virtio_pci.ko'])
    assert.ok(
      mods.some((x) => x.endsWith(m)),
      m,
    );

  const trees = [0, 1].map((i) => new Tree({ storeDir: join(work, `store${i}`) }));
  const results = [];
  for (const tree of trees) results.push(await addKernelModules(tree, k, mods));
  const r = results[0];
  assert.ok(r && r.count === mods.length && r.bytes > 0);
  const base = `usr/lib/modules/${k.version}`;
  const tree = trees[0] as Tree;
  const dep = (await content(tree.get(`${base}/modules.dep`))).toString('utf8');
  assert.match(dep, /^kernel\/drivers\/net\/virtio_net\.ko: .*net_failover\.ko/m);
  assert.equal(dep.trim().split('\n').length, mods.length, 'modules.dep lists exactly the subset');
  assert.match((await content(tree.get(`${base}/modules.alias`))).toString('utf8'), /alias virtio:d00000001v\* virtio_net/);
  for (const f of ['modules.dep.bin', 'modules.alias.bin', 'modules.builtin.bin', 'modules.order']) assert.ok(tree.has(`${base}/${f}`), f);
  assert.ok(tree.has('lib/modules'), 'reachable as lib/modules through the usr-merge alias');

  // Reproducible: the same subset gives byte-identical index files.
  for (const f of ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.symbols.bin', 'modules.softdep']) {
    const [a, b] = await Promise.all(
      trees.map(async (tr) =>
        createHash('sha256')
          .update(await content(tr.get(`${base}/${f}`)))
          .digest('hex'),
      ),
    );
    assert.equal(a, b, `${f} is reproducible`);
  }
  const all = await selectModules(k.modulesDir, [...DEFAULT_MODULE_SETS]);
  t.diagnostic(
    `${k.package.name} ${k.version}: fetch cold ${coldMs} ms, warm ${warmMs} ms; virtio+net+storage ${r.count} modules ${(r.bytes / 1e6).toFixed(1)} MB; default sets ${all.length} modules`,
  );
});

test('an unknown kernel package is a UserError with the way to list them', { timeout: 120_000 }, async () => {
  await assert.rejects(fetchKernel(repo, 'linux-image-foo'), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, /^kernel package 'linux-image-foo' not found in /);
    assert.match(e.hint ?? '', /apt-cache search/);
    return true;
  });
});
