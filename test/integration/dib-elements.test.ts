/**
 * The optional elements ramforge ships for the dib flavor (elements/), each
 * checked for its effect in a real qemu boot (TCG, 1 GiB) — two builds, two
 * boots:
 *
 *  1. ramforge-agent-tls (a given certificate) + ramforge-hardware-managers
 *     (a site manager) + ramforge-ssh's rootpwd= in one boot: a client that
 *     trusts the test CA gets /v1/status over HTTPS and sees exactly the given
 *     certificate (an untrusting client and plain HTTP are refused); the site
 *     manager's manual clean step is in the agent's clean steps and running it
 *     marks the VM's disk (read back on the host) and /run (over SSH); root
 *     logs in over SSH with the password whose hash rootpwd= gave, a wrong
 *     password is refused.
 *  2. ramforge-inspection: the ramdisk posts to the real Ironic Inspector,
 *     the introspection finishes with the node's properties set, and the VM
 *     powers itself off. *
 * ramforge-agent-tls's automatic mode (no certificate given) is booted in
 * dib-rootless.test.ts, whose image carries it: that boot is needed anyway,
 * and an image of its own here would cost a third build and boot.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';
import { sharedBuild, testSshKey } from '../support/shared-build.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { sshUntil } from '../support/ssh.js';
import { httpsGet, plainHttpFailure, untilHttps } from '../support/agent-https.js';
import { sharedIronic, stopSharedIronic, vmIronicSkip } from '../support/ironic.js';

const scratch = mkdtempSync(join(tmpdir(), 'ramforge-dib-elements-'));
after(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await stopSharedIronic();
});

/**
 * A test CA and an agent certificate it signed (IP SAN 127.0.0.1: the host reaches the agent through a
 * hostfwd), made once per checkout in .cache/ like the test SSH key. The files the spec names carry the
 * certificate's hash, so a new certificate is a new spec (a new shared build).
 */
function testTls(): { caPem: string; certPem: string; certFile: string; keyFile: string } {
  const dir = join(REPO_ROOT, '.cache', 'test-tls');
  if (!existsSync(join(dir, 'agent.crt'))) {
    const tmp = mkdtempSync(join(tmpdir(), 'ramforge-tls-'));
    try {
      const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
      ossl('req', '-x509', ...ec, '-days', '3650', '-subj', '/CN=ramforge test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
      ossl('req', ...ec, '-subj', '/CN=ramforge-agent', '-keyout', 'agent.key', '-out', 'agent.csr');
      writeFileSync(
        join(tmp, 'ext.cnf'),
        'basicConstraints = critical, CA:FALSE\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n',
      );
      ossl(
        'x509',
        '-req',
        '-in',
        'agent.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        '0x5eed',
        '-days',
        '3650',
        '-extfile',
        'ext.cnf',
        '-out',
        'agent.crt',
      );
      mkdirSync(dir, { recursive: true });
      for (const f of ['ca.crt', 'agent.key', 'agent.crt']) copyFileSync(join(tmp, f), join(dir, f));
      chmodSync(join(dir, 'agent.key'), 0o600);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const certPem = readFileSync(join(dir, 'agent.crt'), 'utf8');
  const sha = createHash('sha256').update(certPem).digest('hex').slice(0, 12);
  const certFile = join(dir, `agent-${sha}.crt`);
  const keyFile = join(dir, `agent-${sha}.key`);
  if (!existsSync(keyFile)) {
    copyFileSync(join(dir, 'agent.crt'), certFile);
    copyFileSync(join(dir, 'agent.key'), keyFile);
  }
  return { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), certPem, certFile, keyFile };
}

const tls = testTls();
const MANAGERS = join(REPO_ROOT, 'test', 'fixtures', 'dib-hardware-managers', 'ramforge-test-disk-marker.mjs');

/** Build 1: agent TLS with the test certificate, the site hardware manager, the flavor's SSH (rootpwd= at boot). */
const SERVICE_SPEC = {
  flavor: 'dib',
  name: 'ipa-dib-elements',
  cmdline: 'console=ttyS0,115200',
  iso: false,
  ssh: { authorizedKeys: [testSshKey().publicKey] },
  dib: {
    elements: ['ramforge-agent-tls', 'ramforge-hardware-managers'],
    environment: {
      DIB_RAMFORGE_AGENT_TLS_CERT: tls.certFile,
      DIB_RAMFORGE_AGENT_TLS_KEY: tls.keyFile,
      DIB_RAMFORGE_HARDWARE_MANAGERS: MANAGERS,
    },
  },
};

/** Build 2: the inspection-only ramdisk. */
const INSPECTION_SPEC = {
  flavor: 'dib',
  name: 'ipa-dib-inspection',
  cmdline: 'console=ttyS0,115200',
  iso: false,
  dib: { elements: ['ramforge-inspection'] },
};

const BUILD_TIMEOUT = 45 * 60_000;

/** POST an agent command over HTTPS (the agent has no Ironic here: no token) and wait for its result. */
async function agentCommand(port: number, name: string, params: Record<string, unknown>): Promise<Record<string, any>> {
  const body = JSON.stringify({ name, params });
  const post = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/commands/?wait=true',
        method: 'POST',
        ca: tls.caPem,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 120_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
  assert.ok(post.status < 400, `${name}: HTTP ${post.status} ${post.body}`);
  const cmd = JSON.parse(post.body) as Record<string, any>;
  assert.equal(cmd.command_status, 'SUCCEEDED', `${name}: ${post.body}`);
  return cmd.command_result as Record<string, any>;
}

/** ssh as root with a password only (SSH_ASKPASS, no key, no agent): its exit status and output. */
function sshPassword(port: number, password: string, command: string): { status: number | null; out: string } {
  const askpass = join(scratch, 'askpass');
  writeFileSync(join(scratch, 'password'), password);
  writeFileSync(askpass, `#!/bin/sh\ncat ${join(scratch, 'password')}\n`, { mode: 0o700 });
  const r = spawnSync(
    'ssh',
    [
      ...['-p', String(port), '-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'IdentitiesOnly=yes'],
      ...['-o', 'IdentityFile=/dev/null', '-o', 'NumberOfPasswordPrompts=1', '-o', 'StrictHostKeyChecking=no'],
      ...['-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', command],
    ],
    {
      encoding: 'utf8',
      timeout: 90_000,
      env: { PATH: process.env.PATH, HOME: scratch, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function readDisk(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(bytes);
    readSync(fd, b, 0, bytes, 0);
    return b.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

test('dib elements: agent TLS with the given certificate, a site hardware manager, rootpwd= for root over SSH', {
  timeout: BUILD_TIMEOUT + 20 * 60_000,
}, async () => {
  const b = await sharedBuild(SERVICE_SPEC);
  const disk = join(scratch, 'disk.img');
  execFileSync('truncate', ['-s', '2G', disk]);
  const password = 'Ramforge-rootpwd-1';
  const hash = execFileSync('openssl', ['passwd', '-6', '-salt', 'ramforgetest', password], { encoding: 'utf8' }).trim();
  const marker = `ramforge-hwm-${process.pid}`;
  const [apiPort, sshPort] = [await freePort(), await freePort()];
  const vm = await bootVm({
    memoryMiB: 1024,
    kernel: b.kernel,
    initrd: b.initramfs,
    append: `${SERVICE_SPEC.cmdline} rootpwd="${hash}"`,
    hostfwd: [
      { hostPort: apiPort, guestPort: 9999 },
      { hostPort: sshPort, guestPort: 22 },
    ],
    disks: [{ path: disk, format: 'raw' }],
  });
  try {
    // TLS: a client trusting the test CA gets /v1/status and sees the very certificate given to the element.
    const r = await untilHttps(apiPort, tls.caPem, 600_000);
    process.stderr.write(`[dib-elements] /v1/status over HTTPS after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    assert.equal(r.status, 200);
    assert.equal(typeof (JSON.parse(r.body) as { version: string }).version, 'string');
    assert.equal(new X509Certificate(r.peerPem).fingerprint256, new X509Certificate(tls.certPem).fingerprint256, 'the given certificate');
    await assert.rejects(
      httpsGet(apiPort, '/v1/status', undefined),
      /self[- ]signed|unable to (get|verify)/i,
      'a client without the CA refuses',
    );
    await plainHttpFailure(apiPort);

    // The site hardware manager: loaded, its step reported, and running it marks the disk.
    const steps = await agentCommand(apiPort, 'clean.get_clean_steps', { node: { uuid: 'dib-elements-node' }, ports: [] });
    const all = Object.values(steps.clean_steps as Record<string, { step: string }[]>).flat();
    assert.ok(
      all.some((s) => s.step === 'ramforge_test_write_disk_marker'),
      `the site manager's step is reported: ${JSON.stringify(steps.clean_steps)}`,
    );
    assert.ok('ramforge_test_disk_marker' in (steps.hardware_manager_version as Record<string, string>), JSON.stringify(steps));
    const ran = await agentCommand(apiPort, 'clean.execute_clean_step', {
      step: { interface: 'deploy', step: 'ramforge_test_write_disk_marker', args: { device: '/dev/vda', text: marker }, priority: 0 },
      node: { uuid: 'dib-elements-node' },
      ports: [],
      clean_version: steps.hardware_manager_version,
    });
    assert.deepEqual(ran.clean_result, { marked: '/dev/vda' }, JSON.stringify(ran));

    // Over SSH with the spec's key: the step's mark, the element's files (modes as documented).
    const out = await sshUntil(
      { port: sshPort, key: testSshKey().privateKeyFile },
      'cat /run/ramforge-test-disk-marker; stat -c "%a %U %n" /etc/ironic-python-agent/tls/agent.key /etc/ironic-python-agent/hardware-managers/ramforge-test-disk-marker.mjs; cat /etc/ironic-python-agent.d/50-ramforge-agent-tls.conf',
      { timeoutMs: 300_000, pauseMs: 3000 },
    );
    assert.match(out, new RegExp(`^${marker}$`, 'm'));
    assert.match(out, /^600 root \/etc\/ironic-python-agent\/tls\/agent\.key$/m);
    assert.match(out, /^644 root \/etc\/ironic-python-agent\/hardware-managers\/ramforge-test-disk-marker\.mjs$/m);
    assert.match(out, /^listen_tls = True$/m);

    // rootpwd=: root logs in with that password; a wrong one is refused.
    const good = sshPassword(sshPort, password, 'id -un');
    assert.equal(good.status, 0, good.out);
    assert.match(good.out, /^root$/m);
    const bad = sshPassword(sshPort, 'not-the-password', 'id -un');
    assert.notEqual(bad.status, 0, bad.out);
    assert.match(bad.out, /Permission denied/);
    process.stderr.write(`[dib-elements] all checks done after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`[dib-elements] serial log:\n${vm.serialText().slice(-8000)}\n`);
    throw e;
  } finally {
    await vm.stop();
  }
  // The mark is on the VM's disk, read back on the host.
  assert.equal(readDisk(disk, marker.length), marker);
});

test('dib elements: the inspection-only ramdisk posts to the real Inspector, which sets the node up, and powers off', {
  skip: vmIronicSkip(),
  timeout: BUILD_TIMEOUT + 20 * 60_000,
}, async () => {
  const b = await sharedBuild(INSPECTION_SPEC);
  const env = await sharedIronic();
  assert.ok(env.inspectorUrl, 'the shared Ironic runs with Inspector');
  // The guest reaches the host's 127.0.0.1 services at 10.0.2.2 (slirp); the host itself never uses that address.
  const callback = `http://10.0.2.2:${new URL(env.inspectorUrl).port}/v1/continue`;
  const mac = '52:54:00:d1:b0:01';
  const disk = join(scratch, 'inspect.img');
  execFileSync('truncate', ['-s', '4G', disk]);
  const uuid = await env.enrollNode({ mac, name: 'dib-inspection', fields: { inspect_interface: 'inspector' } });
  let vm: Vm | undefined;
  try {
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.startInspection(uuid);
    await env.waitForProvisionState(uuid, ['inspect wait'], 60_000);
    vm = await bootVm({
      memoryMiB: 1024,
      kernel: b.kernel,
      initrd: b.initramfs,
      append: `${INSPECTION_SPEC.cmdline} ipa-inspection-callback-url=${callback}`,
      mac,
      disks: [{ path: disk, format: 'raw' }],
    });
    const started = vm.startedAt;
    // The ramdisk powers the VM off once the Inspector has the data (qemu exits).
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      vm.exited(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the VM did not power off within 15 minutes')), 15 * 60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    process.stderr.write(
      `[dib-elements] inspection: the VM powered off after ${((Date.now() - started) / 1000).toFixed(1)} s (exit ${code})\n`,
    );
    assert.equal(code, 0);
    assert.match(vm.serialText(), /reboot: Power down/);
    const n = await env.waitForProvisionState(uuid, ['manageable'], 180_000);
    const st = await env.inspectorStatus(uuid);
    assert.equal(st.body.finished, true, JSON.stringify(st.body));
    assert.equal(st.body.error, null);
    assert.equal(n.properties.cpu_arch, 'x86_64', JSON.stringify(n.properties));
    assert.ok(Number(n.properties.cpus) >= 1, 'cpus set');
    assert.ok(Number(n.properties.memory_mb) >= 900, `memory_mb ${n.properties.memory_mb}`);
    // The 4 GiB disk is the root disk; Inspector keeps 1 GiB back.
    assert.equal(Number(n.properties.local_gb), 3);
  } catch (e) {
    process.stderr.write(`[dib-elements] inspection serial log:\n${vm?.serialText().slice(-8000) ?? ''}\n${env.logTail(40)}\n`);
    throw e;
  } finally {
    await vm?.stop();
    await env.deleteNode(uuid);
  }
});
