/**
 * A dib build as an ordinary user (issue 9, item 5): a throwaway system user
 * with a subordinate uid/gid range builds a small dib ramdisk (its own
 * cache, so the Debian base goes through mmdebstrap's unshare mode, and the
 * element runner through a user namespace: userns.ts). The initramfs is
 * read back: a file owned by a user the element made keeps that uid and its
 * modes, root's files are root's, setuid bits survive, and no uid of the
 * host's subordinate range or of the caller leaks into the archive.
 *
 * Then that image boots once (qemu TCG, 1 GiB) against the real Ironic and
 * two things are checked in the running ramdisk:
 *  - the owners hold at run time: the element's user logs in over SSH with
 *    the test key, which sshd (StrictModes) only accepts when the user's
 *    home, ~/.ssh and authorized_keys are the user's and not writable by
 *    others; as that user it reads its own 0640 file and cannot read
 *    /etc/shadow;
 *  - ramforge-agent-tls's automatic mode (the image carries the element
 *    without a certificate): the agent makes its own certificate after the
 *    lookup, the conductor stores the PEM the heartbeat carries as
 *    agent_verify_ca (driver_internal_info names the file), /v1/status
 *    answers over HTTPS to a client that trusts that PEM only (as the
 *    conductor does: the host name checked against the IP SAN), the served
 *    certificate is that one and the agent's /run copy, self-signed, CN the
 *    guest's host name, a critical IP SAN of the advertised address, P-384,
 *    SHA-512, valid now for 90 days; plain HTTP gets nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';
import { listInitramfs, type InitramfsListEntry } from '../../builder/src/archive/initramfs-list.js';
import { plainHttpFailure, untilHttps } from '../support/agent-https.js';
import { sharedIronic, stopSharedIronic, vmIronicSkip, type IronicEnv } from '../support/ironic.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { testSshKey } from '../support/shared-build.js';
import { sshUntil } from '../support/ssh.js';

const USER = `rfdib${process.pid}`;
// A range far from the usual 100000.. ones, so it cannot overlap a real user's.
const SUB = 3_500_000_000 + (process.pid % 1000) * 65536;
const MAC = '52:54:00:d1:b0:02';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to make a throwaway user (useradd, runuser)';
  for (const t of ['useradd', 'usermod', 'userdel', 'runuser', 'newuidmap', 'newgidmap', 'unshare', 'mmdebstrap'])
    if (!has(t)) return `${t} is not installed`;
  return vmIronicSkip();
}
const skip = skipReason();

let dir = '';
let made = false;

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ramforge-rootless-'));
  chmodSync(dir, 0o755);
  const sh = (argv: string[]) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  };
  sh(['useradd', '--system', '--create-home', '--home-dir', join(dir, 'home'), '--shell', '/bin/bash', USER]);
  made = true;
  sh(['usermod', '--add-subuids', `${SUB}-${SUB + 65535}`, '--add-subgids', `${SUB}-${SUB + 65535}`, USER]);
  const el = join(dir, 'elements', 'site-owner', 'install.d');
  mkdirSync(el, { recursive: true });
  writeFileSync(
    join(el, '50-owner'),
    [
      '#!/bin/bash',
      'set -eux',
      'useradd -m -u 1234 -s /bin/bash opsuser',
      // A password field of "*", not useradd's locked "!": sshd without PAM refuses locked accounts even with a key.
      "usermod -p '*' opsuser",
      'install -d -o opsuser -g opsuser -m 0750 /home/opsuser/data',
      'echo hi > /home/opsuser/data/f',
      'chown 1234:1234 /home/opsuser/data/f',
      'chmod 0640 /home/opsuser/data/f',
      'install -d -o opsuser -g opsuser -m 0700 /home/opsuser/.ssh',
      `printf '%s\\n' '${testSshKey().publicKey}' > /home/opsuser/.ssh/authorized_keys`,
      'chown opsuser:opsuser /home/opsuser/.ssh/authorized_keys',
      'chmod 0600 /home/opsuser/.ssh/authorized_keys',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  // ramforge-agent-tls without DIB_RAMFORGE_AGENT_TLS_CERT/KEY: its automatic mode. Root's key: to read the agent's files.
  writeFileSync(
    join(dir, 'spec.yaml'),
    [
      'flavor: dib',
      'name: rootless',
      'iso: false',
      'sourceDateEpoch: 1700000000',
      `ssh:\n  authorizedKeys: ['${testSshKey().publicKey}']`,
      'dib:\n  elementsPath: [elements]\n  elements: [site-owner, ramforge-agent-tls]',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'cache'));
  sh(['chown', '-R', `${USER}:`, dir]);
});

let certFile: string | undefined;
after(async () => {
  if (made) spawnSync('userdel', [USER]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  // The conductor keeps the agent's PEM as <certificates_path>/<node>.crt; the node is gone, so is its file.
  if (certFile) rmSync(certFile, { force: true });
  await stopSharedIronic();
});

/** The initramfs the rootless build made, for the boot test after the build test. */
let initrd = '';
let kernel = '';
test('dib as an ordinary user with a subuid range: real owners and modes in the initramfs', { skip, timeout: 20 * 60_000 }, async () => {
  const t0 = Date.now();
  const r = spawnSync(
    'runuser',
    [
      '-u',
      USER,
      '--',
      'env',
      '-i',
      `PATH=${process.env.PATH}`,
      `HOME=${join(dir, 'home')}`,
      `RAMFORGE_CACHE=${join(dir, 'cache')}`,
      `TMPDIR=${dir}`,
      'CI=1',
      process.execPath,
      '--import',
      join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs'),
      join(REPO_ROOT, 'builder/src/cli/main.ts'),
      'build',
      '--spec',
      'spec.yaml',
      '--no-install',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 19 * 60_000, maxBuffer: 256 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-3000)}`);
  process.stderr.write(`[dib-rootless] build as ${USER}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const initrd0 = join(dir, 'output', 'rootless', 'rootless.initramfs');
  assert.ok(existsSync(initrd0), `no ${initrd0}`);
  const entries = new Map<string, InitramfsListEntry>();
  for (const m of await listInitramfs(initrd0)) for (const e of m.entries) entries.set(e.path.replace(/^\.?\//, ''), e);
  const get = (p: string) => {
    const e = entries.get(p);
    assert.ok(e, `${p} is not in the initramfs`);
    return e;
  };
  const own = (p: string, uid: number, gid: number, mode: number) => {
    const e = get(p);
    assert.deepEqual([e.uid, e.gid, e.mode.toString(8)], [uid, gid, mode.toString(8)], p);
  };
  own('home/opsuser/data/f', 1234, 1234, 0o640);
  own('home/opsuser/data', 1234, 1234, 0o750);
  own('usr/bin/passwd', 0, 0, 0o4755);
  own('etc/passwd', 0, 0, 0o644);
  own('root', 0, 0, 0o700);
  // mmdebstrap's sync-in made this with the caller's own uid in unshare mode (mmdebstrap.ts chowns it back).
  own('var/cache/apt/archives', 0, 0, 0o755);
  assert.equal(get('etc/shadow').uid, 0);
  assert.notEqual(get('etc/shadow').gid, 0, '/etc/shadow keeps group shadow');
  const leaked = [...entries.values()].filter((e) => e.uid >= 65536 || e.gid >= 65536);
  assert.deepEqual(
    leaked.slice(0, 5).map((e) => `${e.path} ${e.uid}:${e.gid}`),
    [],
    'no uid of the subordinate range in the archive',
  );
  const dev = get('dev/console');
  assert.equal(dev.type, 'char');
  // What the boot below logs in with, and ramforge-agent-tls's automatic mode: a setting, no certificate or key baked in.
  own('home/opsuser/.ssh', 1234, 1234, 0o700);
  own('home/opsuser/.ssh/authorized_keys', 1234, 1234, 0o600);
  own('etc/ironic-python-agent.d/50-ramforge-agent-tls.conf', 0, 0, 0o644);
  assert.deepEqual(
    [...entries.keys()].filter((p) => p.startsWith('etc/ironic-python-agent/tls/')),
    [],
    'no certificate or key in the image',
  );
  kernel = join(dir, 'output', 'rootless', 'rootless.kernel');
  initrd = initrd0;
});

/** Polls the node until a heartbeat recorded agent_verify_ca (the file the conductor stored the agent's PEM in). */
async function untilVerifyCa(env: IronicEnv, uuid: string, vm: Vm, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = (await env.getNode(uuid)).driver_internal_info;
    if (typeof info.agent_verify_ca === 'string') return info;
    if (Date.now() > deadline) throw new Error(`no heartbeat with agent_verify_ca within ${timeoutMs} ms: ${JSON.stringify(info)}`);
    const code = await Promise.race([vm.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), 2000))]);
    if (code !== 'running') throw new Error(`the VM exited (${code}) before a heartbeat with agent_verify_ca`);
  }
}

test('the rootless image boots: the element user logs in with its key (owners right at run time); ramforge-agent-tls automatic mode: HTTPS with the certificate the agent made and the conductor stored', {
  skip,
  timeout: 20 * 60_000,
}, async () => {
  assert.ok(initrd, 'the rootless build (the test before) made no image');
  const env = await sharedIronic();
  const uuid = await env.enrollNode({ mac: MAC, name: `dib-rootless-${process.pid}`, driverInfo: { fast_track: true } });
  let vm: Vm | undefined;
  try {
    // Fast track: the conductor answers the lookup and records heartbeats of a manageable node.
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    const [apiPort, sshPort] = [await freePort(), await freePort()];
    const ironicPort = new URL(env.apiUrl).port;
    vm = await bootVm({
      memoryMiB: 1024,
      kernel,
      initrd,
      // The guest reaches the host's Ironic as 10.0.2.2 (slirp); the conductor reaches the agent through the forward it advertises.
      append: `console=ttyS0,115200 ipa-api-url=http://10.0.2.2:${ironicPort} ipa-advertise-host=127.0.0.1 ipa-advertise-port=${apiPort} ipa-disk-wait-attempts=1`,
      mac: MAC,
      hostfwd: [
        { hostPort: apiPort, guestPort: 9999 },
        { hostPort: sshPort, guestPort: 22 },
      ],
    });
    const started = vm.startedAt;

    // The heartbeat carried the agent's certificate: the conductor stored it and names the file.
    const info = await untilVerifyCa(env, uuid, vm, 600_000);
    certFile = info.agent_verify_ca as string;
    assert.equal(certFile.split('/').pop(), `${uuid}.crt`, JSON.stringify(info));
    assert.equal(info.agent_url, `https://127.0.0.1:${apiPort}`, 'the agent advertises https');
    const storedPem = readFileSync(certFile, 'utf8');

    // HTTPS /v1/status trusting that PEM only, the host name checked against the certificate (127.0.0.1).
    const r = await untilHttps(apiPort, storedPem, 120_000);
    process.stderr.write(`[dib-rootless] /v1/status over HTTPS after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    assert.equal(r.status, 200, r.body);
    assert.equal(typeof (JSON.parse(r.body) as { version: string }).version, 'string');
    const served = new X509Certificate(r.peerPem);
    assert.equal(
      served.fingerprint256,
      new X509Certificate(storedPem).fingerprint256,
      'the served certificate is the one the heartbeat carried',
    );
    process.stderr.write(`[dib-rootless] plain HTTP: ${await plainHttpFailure(apiPort)}\n`);

    // As the element's user: the key login itself (StrictModes), its own 0640 file, no /etc/shadow.
    const key = testSshKey().privateKeyFile;
    const out = await sshUntil(
      { port: sshPort, key, user: 'opsuser' },
      [
        'id -u; id -g; cat /home/opsuser/data/f',
        'stat -c "%u:%g %a %n" /home/opsuser /home/opsuser/.ssh /home/opsuser/.ssh/authorized_keys',
        'if cat /etc/shadow >/dev/null 2>&1; then echo shadow readable; else echo shadow refused; fi',
      ].join('; '),
      { timeoutMs: 300_000, pauseMs: 3000 },
    );
    process.stderr.write(`[dib-rootless] logged in as opsuser after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    assert.match(out, /^1234\n1234\nhi\n/, out);
    assert.match(out, /^1234:1234 7[0-5][0-5] \/home\/opsuser$/m, out);
    assert.match(out, /^1234:1234 700 \/home\/opsuser\/\.ssh$/m, out);
    assert.match(out, /^1234:1234 600 \/home\/opsuser\/\.ssh\/authorized_keys$/m, out);
    assert.match(out, /^shadow refused$/m, out);

    // As root (the spec's key): the element's setting, and the agent's own certificate and key in its per-boot state.
    const agentFiles = await sshUntil(
      { port: sshPort, key },
      [
        'cat /etc/ironic-python-agent.d/50-ramforge-agent-tls.conf',
        'stat -c "%u:%g %a %n" /run/ironic-python-agent/agent.key',
        'echo "hostname=$(hostname)"',
        'cat /run/ironic-python-agent/agent.crt',
      ].join('; '),
      { timeoutMs: 60_000, pauseMs: 3000 },
    );
    assert.match(agentFiles, /^enable_auto_tls = True$/m, agentFiles);
    assert.match(agentFiles, /^0:0 600 \/run\/ironic-python-agent\/agent\.key$/m, agentFiles);
    assert.ok(agentFiles.includes(storedPem.trim()), `the agent's /run/ironic-python-agent/agent.crt is the stored PEM:\n${agentFiles}`);

    // The certificate as the agent makes it (IPA's tls_utils): self-signed, CN the host name, a critical IP SAN, P-384, SHA-512, 90 days.
    const host = /^hostname=(.*)$/m.exec(agentFiles)?.[1];
    assert.ok(host, agentFiles);
    assert.equal(served.subject, `CN=${host}`);
    assert.equal(served.issuer, served.subject, 'self-signed');
    assert.ok(served.verify(served.publicKey), 'signed by its own key');
    assert.equal(served.subjectAltName, 'IP Address:127.0.0.1');
    assert.equal(served.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: r.peerPem, encoding: 'utf8' });
    assert.match(text, /X509v3 Subject Alternative Name: critical/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA512/);
    const [from, to, now] = [Date.parse(served.validFrom), Date.parse(served.validTo), Date.now()];
    assert.ok(from <= now && now < to, `valid now: ${served.validFrom} .. ${served.validTo}`);
    assert.equal(Math.round((to - from) / 3600_000), 90 * 24 + 1, 'from an hour back (clock skew) for 90 days');
    process.stderr.write(`[dib-rootless] all checks done after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`[dib-rootless] serial log:\n${vm?.serialText().slice(-8000) ?? ''}\n${env.logTail(40)}\n`);
    throw e;
  } finally {
    await vm?.stop();
    await env.deleteNode(uuid);
  }
});
