import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearStalePidfiles, daemonConfig, dockerdArgv, mountsBelow } from './dockerd.js';

test('dockerdArgv keeps everything under the directory and leaves the host network alone', () => {
  const argv = dockerdArgv('/t/d', 'overlay2');
  for (const flag of ['--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false']) assert.ok(argv.includes(flag), flag);
  assert.equal(argv[argv.indexOf('--host') + 1], 'unix:///t/d/docker.sock');
  assert.equal(argv[argv.indexOf('--data-root') + 1], '/t/d/data');
  assert.equal(argv[argv.indexOf('--exec-root') + 1], '/t/d/exec');
  assert.equal(argv[argv.indexOf('--pidfile') + 1], '/t/d/dockerd.pid');
  assert.equal(argv[argv.indexOf('--config-file') + 1], '/t/d/daemon.json');
  assert.equal(argv[argv.indexOf('--storage-driver') + 1], 'overlay2');
  assert.deepEqual(JSON.parse(daemonConfig('/t/d')), { 'deprecated-key-path': '/t/d/key.json' });
});

test('mountsBelow lists the mounts under a directory, deepest first, unescaping mountinfo', () => {
  const info = [
    '22 1 254:0 / / rw - ext4 /dev/vda rw',
    '90 22 0:50 / /t/d/data/overlay2/abc/merged rw - overlay overlay rw',
    '91 22 0:51 / /t/d/exec/netns/x rw - nsfs nsfs rw',
    '92 22 0:52 / /t/dd rw - tmpfs tmpfs rw',
    '93 22 0:53 / /t/d/with\\040space rw - tmpfs tmpfs rw',
  ].join('\n');
  assert.deepEqual(mountsBelow('/t/d', info), ['/t/d/data/overlay2/abc/merged', '/t/d/exec/netns/x', '/t/d/with space']);
});

test('clearStalePidfiles removes pid files of dead processes and refuses a live engine on the directory', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dockerd-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'exec', 'containerd'), { recursive: true });
  const containerd = join(dir, 'exec', 'containerd', 'containerd.pid');
  // A pid that is alive but not an engine of this directory (this test process): stale for us.
  writeFileSync(containerd, `${process.pid}\n`);
  writeFileSync(join(dir, 'dockerd.pid'), '2147483646\n');
  clearStalePidfiles(dir);
  assert.equal(existsSync(containerd), false);
  assert.equal(existsSync(join(dir, 'dockerd.pid')), false);
});
