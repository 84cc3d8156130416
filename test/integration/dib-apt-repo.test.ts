/**
 * apt during a dib build reads the repositories site elements add, as in
 * DIB: a full dib build whose site element adds a local flat apt
 * repository (made here: one tiny package built with dpkg-deb, indexed
 * with dpkg-scanpackages, its InRelease signed with a throwaway gpg key) in a
 * pre-install.d script, so only the `apt-get update` at the end of
 * pre-install.d (DIB's dpkg/pre-install.d/99) can have fetched its lists;
 * the key comes in through DIB_ADD_APT_KEYS (DIB's dpkg/root.d/09); the
 * package is asked for in package-installs.yaml. Checked in the built
 * initramfs: the package's file, the key in trusted.gpg.d, the element's
 * source kept, the base's own source back, and no apt lists or caches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listInitramfs, type InitramfsListEntry } from '../../builder/src/archive/initramfs-list.js';
import { findTool } from '../../builder/src/exec/run.js';
import { tempDir, writeTree } from '../../builder/src/flavors/dib/elements/test-trees.js';
import { build } from '../../builder/src/index.js';

const HEADER = '#!/bin/bash\nif [ ${DIB_DEBUG_TRACE:-1} -gt 0 ]; then set -x; fi\nset -eu\nset -o pipefail\n';

const missing = ['dpkg-deb', 'dpkg-scanpackages', 'gpg', 'gpgconf'].filter((t) => !findTool(t));
const skip = missing.length ? `needs ${missing.join(', ')} (ramforge doctor --for all --fix)` : false;

/** A signed flat repository holding ramforge-site-hello (one file), and the public key as an .asc file in its own directory. */
function makeRepo(dir: string): { repo: string; keys: string } {
  const pkg = writeTree(join(dir, 'pkg'), {
    'DEBIAN/control':
      'Package: ramforge-site-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: ramforge tests <tests@example.invalid>\nDescription: a package from a site repository\n',
    'usr/share/ramforge-site-hello/hello.txt': 'hello from the site repository\n',
  });
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  const sh = (cmd: string, cwd = repo) => execFileSync('/bin/sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  sh(`dpkg-deb --root-owner-group --build "${pkg}" ramforge-site-hello_1.0_all.deb`);
  sh('dpkg-scanpackages --multiversion . > Packages');
  const packages = readFileSync(join(repo, 'Packages'));
  const sum = (algo: string) => createHash(algo).update(packages).digest('hex');
  writeFileSync(
    join(repo, 'Release'),
    `Origin: ramforge-test\nLabel: ramforge-test\nDate: ${new Date().toUTCString()}\nMD5Sum:\n ${sum('md5')} ${packages.length} Packages\nSHA256:\n ${sum('sha256')} ${packages.length} Packages\n`,
  );
  const home = join(dir, 'gnupg');
  mkdirSync(home, { mode: 0o700 });
  const gpg = `gpg --batch --quiet --homedir "${home}"`;
  try {
    sh(`${gpg} --passphrase '' --quick-gen-key 'ramforge site repository <repo@example.invalid>' ed25519 sign never`);
    sh(`${gpg} --yes --clearsign --output InRelease Release`);
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    sh(`${gpg} --armor --export > "${join(keys, 'ramforge-site.asc')}"`);
    return { repo, keys };
  } finally {
    execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
  }
}

test("a site element's apt repository (signed, key from DIB_ADD_APT_KEYS) serves package-installs during the build", {
  skip,
  timeout: 30 * 60_000,
}, async (t) => {
  const dir = tempDir(t, 'dib-apt-repo-');
  const { repo, keys } = makeRepo(dir);
  const site = writeTree(join(dir, 'elements'), {
    'site-apt-repo/element-deps': 'package-installs\n',
    // The repository into the hook tree (read-only at /tmp/in_target.d in the chroot), as a site would ship it.
    'site-apt-repo/extra-data.d/50-site-apt-repo +x': `${HEADER}cp -r "$SITE_APT_REPO" "$TMP_HOOKS_PATH/site-apt-repo"\n`,
    // The source, added in pre-install.d after the build's first apt-get update (pre-install.d/02).
    'site-apt-repo/pre-install.d/50-site-apt-source +x': `${HEADER}echo "deb file:/tmp/in_target.d/site-apt-repo ./" > /etc/apt/sources.list.d/site-apt-repo.list\n`,
    'site-apt-repo/package-installs.yaml': 'ramforge-site-hello:\n',
  });
  const out = join(dir, 'out');
  const r = await build({
    cwd: dir,
    overrides: {
      flavor: 'dib',
      name: 'dib-apt-repo',
      iso: false,
      dib: {
        elements: ['site-apt-repo'],
        elementsPath: [site],
        environment: { SITE_APT_REPO: repo, DIB_ADD_APT_KEYS: keys },
      },
    },
    output: out,
    installHostTools: true,
    renderer: 'silent',
  });
  const initramfs = join(r.outputDir!, 'dib-apt-repo.initramfs');
  const entries = new Map<string, InitramfsListEntry>();
  for (const m of await listInitramfs(initramfs)) for (const e of m.entries) entries.set(e.path.replace(/^\.?\//, ''), e);
  const has = (p: string) => entries.has(p);
  const paths = [...entries.keys()];
  assert.ok(has('usr/share/ramforge-site-hello/hello.txt'), 'the package from the site repository is in the initramfs');
  assert.ok(has('etc/apt/trusted.gpg.d/ramforge-site.asc'), "DIB_ADD_APT_KEYS's key in trusted.gpg.d");
  assert.ok(has('etc/apt/sources.list.d/site-apt-repo.list'), "the element's source stays, as in DIB");
  assert.ok(has('etc/apt/sources.list.d/0000debian.sources'), "the base's own source is back");
  assert.deepEqual(
    paths.filter((p) => /^etc\/apt\/(ramforge-build|sources\.list\.d\/ramforge-build|apt\.conf\.d\/00ramforge-build)/.test(p)),
    [],
    'no build-time apt configuration',
  );
  assert.deepEqual(
    paths.filter((p) => /^var\/(lib\/apt\/lists|cache\/apt)\/./.test(p) && entries.get(p)?.type === 'file'),
    [],
    'no apt lists or caches',
  );
});
