/**
 * Acceptance: inject_files through the REAL Ironic conductor. A deploy
 * template (trait CUSTOM_RF_INJECT) asks for deploy.inject_files after
 * write_image; the node's properties.inject_files adds one more file. The
 * image is an MBR disk whose one partition is ext4 with /etc/motd. After the
 * deploy, debugfs reads the deployed partition on the loop disk: the files
 * with their modes and owner, and /etc/motd deleted.
 *
 *   TMPDIR=/tmp bash scripts/test.sh test/integration/agent-ironic-inject.test.ts
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedIronic, stopSharedIronic, type IronicEnv } from '../support/ironic.js';
import { createLoopDisk, type LoopDisk } from '../support/loopdisk.js';
import { hostPxeInterface } from '../support/agent-process.js';
import { agentMissingReason, TestScope, withLogs } from './agent-ironic-helpers.js';

const skip = agentMissingReason();
let env: IronicEnv;
let disk: LoopDisk;
let scope: TestScope;
const nic = skip ? { name: '', mac: '' } : hostPxeInterface();
const TRAIT = 'CUSTOM_RF_INJECT';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

before(async () => {
  if (skip) return;
  env = await sharedIronic();
  disk = createLoopDisk();
});
afterEach(async () => {
  await scope?.cleanup();
});
after(async () => {
  disk?.detach();
  await stopSharedIronic();
});

/** A 24 MiB MBR disk image whose one partition (1 MiB to the end) is ext4 holding /etc/motd. */
function makeExt4DiskImage(name: string): { url: string; sha256: string } {
  const work = mkdtempSync(join(tmpdir(), 'rf-inject-img-'));
  try {
    mkdirSync(join(work, 'root/etc'), { recursive: true });
    writeFileSync(join(work, 'root/etc/motd'), 'previous image motd\n');
    const part = join(work, 'part.ext4');
    execFileSync('truncate', ['-s', `${22}M`, part]);
    execFileSync('mkfs.ext4', ['-q', '-d', join(work, 'root'), part]);
    const file = join(env.httpRoot, name);
    writeFileSync(file, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '24M', file]);
    execFileSync('parted', ['-s', file, 'mklabel', 'msdos', 'mkpart', 'primary', '1MiB', '100%']);
    execFileSync('dd', [`if=${part}`, `of=${file}`, 'bs=1M', `seek=1`, 'conv=notrunc', 'status=none']);
    return { url: `${env.httpUrl}/${name}`, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function inode(dev: string, path: string): { mode: number; uid: number; gid: number } | null {
  const out = execFileSync('debugfs', ['-R', `stat ${path}`, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const m = /Mode:\s+(\d+)/.exec(out);
  const u = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
  return m && u ? { mode: Number.parseInt(m[1]!, 8), uid: Number(u[1]), gid: Number(u[2]) } : null;
}
const cat = (dev: string, path: string): string =>
  execFileSync('debugfs', ['-R', `cat ${path}`, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('a deploy template runs deploy.inject_files after write_image: files written with mode and owner, one deleted', {
  skip,
  timeout: 600_000,
}, async () => {
  scope = new TestScope(env, disk);
  let template: string | undefined;
  await withLogs(scope, async () => {
    const image = makeExt4DiskImage('inject-ext4.raw');
    const t = await env.api('POST', '/v1/deploy_templates', {
      name: TRAIT,
      steps: [
        {
          interface: 'deploy',
          step: 'inject_files',
          priority: 70,
          args: {
            files: [
              { path: '/etc/motd', deleted: true },
              { path: '/etc/ssh/authorized/site.pub', content: b64('ssh-ed25519 AAAA site\n'), mode: 0o600, owner: 1000, group: 1000 },
            ],
          },
        },
      ],
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    template = (t.body as { uuid: string }).uuid;
    const uuid = await scope.enroll(nic.mac, {
      fields: { automated_clean: false },
      properties: { inject_files: [{ path: '/etc/sysctl.d/90-site.conf', content: b64('vm.swappiness = 1\n'), mode: 0o640 }] },
    });
    const tr = await env.api('PUT', `/v1/nodes/${uuid}/traits/${TRAIT}`);
    assert.equal(tr.status, 204, JSON.stringify(tr.body));
    await env.setProvisionState(uuid, 'manage');
    await env.waitForProvisionState(uuid, ['manageable'], 60_000);
    await env.setProvisionState(uuid, 'provide');
    await env.waitForProvisionState(uuid, ['available'], 60_000);
    const patch = Object.entries({
      image_source: image.url,
      image_os_hash_algo: 'sha256',
      image_os_hash_value: image.sha256,
      image_disk_format: 'raw',
      traits: [TRAIT],
    }).map(([k, v]) => ({ op: 'add', path: `/instance_info/${k}`, value: v }));
    const r = await env.api('PATCH', `/v1/nodes/${uuid}`, patch);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await env.setProvisionState(uuid, 'active');
    const n = await scope.bootAgentThrough(uuid, {
      waitState: 'wait call-back',
      endStates: ['active', 'deploy failed'],
      timeoutMs: 300_000,
      agent: { apiUrl: env.apiUrl, bootifMac: nic.mac },
    });
    assert.equal(n.provision_state, 'active', n.last_error ?? '');
    const agentLog = scope.agents.at(-1)!.logTail(400);
    assert.match(agentLog, /executing deploy step inject_files/);

    execFileSync('partx', ['-u', disk.device]);
    const part = `${disk.device}p1`;
    assert.equal(cat(part, '/etc/sysctl.d/90-site.conf'), 'vm.swappiness = 1\n');
    assert.equal(inode(part, '/etc/sysctl.d/90-site.conf')?.mode, 0o640);
    assert.equal(cat(part, '/etc/ssh/authorized/site.pub'), 'ssh-ed25519 AAAA site\n');
    assert.deepEqual(inode(part, '/etc/ssh/authorized/site.pub'), { mode: 0o600, uid: 1000, gid: 1000 });
    assert.equal(inode(part, '/etc/motd'), null, '/etc/motd deleted');
  }).finally(async () => {
    if (template) await env.api('DELETE', `/v1/deploy_templates/${template}`).catch(() => undefined);
  });
});
