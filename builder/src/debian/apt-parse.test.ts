import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyAptFailure, debFileName, parseFailedFetch, parsePrintUris, parseSimulatedInstall } from './apt-parse.js';

const SIMULATED = `Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  busybox-static gcc-12-base libc6 libgcc-s1
0 upgraded, 4 newly installed, 0 to remove and 0 not upgraded.
Inst busybox-static (1:1.35.0-4+deb12u1+b1 Debian:12.15/oldstable [amd64])
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64]) []
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
Inst linux-base (4.12.1~deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [all])
Inst libfoo:amd64 [1.0-1] (1.0-2 Example:1/stable [amd64])
Conf busybox-static (1:1.35.0-4+deb12u1+b1 Debian:12.15/oldstable [amd64])
Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
`;

test('parseSimulatedInstall: Inst lines only, epochs, multiple releases, upgrades, sorted', () => {
  assert.deepEqual(parseSimulatedInstall(SIMULATED), [
    { name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1', arch: 'amd64' },
    { name: 'gcc-12-base', version: '12.2.0-14+deb12u1', arch: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u14', arch: 'amd64' },
    { name: 'libfoo', version: '1.0-2', arch: 'amd64' },
    { name: 'libgcc-s1', version: '12.2.0-14+deb12u1', arch: 'amd64' },
    { name: 'linux-base', version: '4.12.1~deb12u1', arch: 'all' },
  ]);
  assert.deepEqual(parseSimulatedInstall('Reading package lists...\n'), []);
});

test('parsePrintUris and debFileName agree on the cache file name', () => {
  const out = `'http://deb.example.invalid/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bdeb12u1%2bb1_amd64.deb' busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb 928188 SHA256:3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
'http://deb.example.invalid/debian/pool/main/a/audit/libaudit-common_3.0.9-1_all.deb' libaudit-common_1%3a3.0.9-1_all.deb 10448 SHA256:17d0341ca6ce604ce59c296780ac2c2a24141a769823c50669af942c025e6591
`;
  const uris = parsePrintUris(out);
  assert.equal(uris.length, 2);
  assert.deepEqual(uris[0], {
    uri: 'http://deb.example.invalid/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bdeb12u1%2bb1_amd64.deb',
    fileName: 'busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb',
    size: 928188,
    sha256: '3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744',
  });
  assert.equal(debFileName({ name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1', arch: 'amd64' }), uris[0]?.fileName);
  assert.equal(debFileName({ name: 'libaudit-common', version: '1:3.0.9-1', arch: 'all' }), uris[1]?.fileName);
});

test('classifyAptFailure', () => {
  assert.deepEqual(classifyAptFailure('Reading package lists...\nE: Unable to locate package nosuchpkg\n'), {
    kind: 'unknown-package',
    name: 'nosuchpkg',
  });
  assert.deepEqual(classifyAptFailure("E: Version '1.0' for 'libc6' was not found\n"), {
    kind: 'unknown-version',
    name: 'libc6',
    version: '1.0',
  });
  assert.deepEqual(classifyAptFailure("E: Package 'mail-transport-agent' has no installation candidate\n"), {
    kind: 'no-candidate',
    name: 'mail-transport-agent',
  });
  assert.deepEqual(
    classifyAptFailure(
      'E: Failed to fetch http://127.0.0.1:1/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)\nE: Some index files failed to download.',
    ),
    {
      kind: 'fetch-failed',
      uri: 'http://127.0.0.1:1/debian/dists/bookworm/InRelease',
      reason: 'Could not connect to 127.0.0.1:1 (127.0.0.1). - connect (111: Connection refused)',
    },
  );
  assert.equal(
    classifyAptFailure(
      "W: GPG error: http://x.example.invalid bookworm InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 0E98404D386FA1D9\nE: The repository 'http://x.example.invalid bookworm InRelease' is not signed.",
    ).kind,
    'signature',
  );
  const unmet = classifyAptFailure(
    ' foo : Depends: bar (>= 2) but 1 is to be installed\nE: Unable to correct problems, you have held broken packages.',
  );
  assert.equal(unmet.kind, 'unresolvable');
  assert.deepEqual(classifyAptFailure('E: something else\n'), { kind: 'other', detail: 'E: something else' });
});

test('parseFailedFetch: the failure line and the settings key; a memo from before the key has none', () => {
  assert.deepEqual(parseFailedFetch('cannot reach http://mirror/debian\nsettings 0123abcd\n'), {
    failure: 'cannot reach http://mirror/debian',
    settings: '0123abcd',
  });
  assert.deepEqual(parseFailedFetch('the mirror could not be reached\n'), { failure: 'the mirror could not be reached' });
  assert.deepEqual(parseFailedFetch(''), { failure: '' });
});
