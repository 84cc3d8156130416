/**
 * Virtual-media TLS, end to end inside the agent: Ironic's deploy ISO
 * carries etc/ironic-python-agent.d/ironic-tls.conf ([DEFAULT] cafile=...)
 * and the CA; after copyConfigFromVmedia the loaded config trusts that CA for
 * lookup, heartbeats and the inspection POST (through util/http.ts). The
 * "Ironic" is a loopback HTTPS fake with a certificate from a CA that
 * openssl makes here; the agent is configured only by INI files in a temp
 * root. (The real Ironic of test/support/ironic.ts serves plain HTTP:
 * requireTls there is [agent]require_tls, the agent's own listener.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../src/config-load.js';
import { postInspectionData } from '../src/inspect/post.js';
import { IronicClient } from '../src/ironic/client.js';
import type { ProgramRunner } from '../src/util/exec.js';
import { copyConfigFromVmedia } from '../src/vmedia.js';
import { FAKE_NODE_UUID, startFakeIronic, type FakeIronic } from './support/fake-ironic.js';
import { createMemoryLog, silentLog } from './support/logs.js';
import { makeTestCa } from './support/test-ca.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-vmedia-tls-'));
let ironic: FakeIronic;
let caPem: string;

before(async () => {
  const ca = makeTestCa(dir);
  caPem = ca.caPem;
  ironic = await startFakeIronic({ tls: { key: ca.key, cert: ca.cert } });
});
after(async () => {
  await ironic?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A temp root booted from Ironic's virtual media: /proc/cmdline with
 * boot_method=vmedia, the ISO "mounted" (listed in /proc/mounts) with
 * Ironic's ironic-tls.conf, the CA, and an INI file with the URLs.
 */
function vmediaRoot(name: string, withTls: boolean): { root: string; run: ProgramRunner } {
  const root = join(dir, name);
  const iso = join(dir, `${name}-iso`);
  mkdirSync(join(iso, 'etc/ironic-python-agent.d'), { recursive: true });
  mkdirSync(join(iso, 'etc/ironic-python-agent'), { recursive: true });
  if (withTls) {
    // Byte for byte what Ironic's image_utils.prepare_deploy_iso injects with [agent]api_ca_file.
    writeFileSync(join(iso, 'etc/ironic-python-agent.d/ironic-tls.conf'), '[DEFAULT]\ncafile = /etc/ironic-python-agent/ironic.crt\n');
    writeFileSync(join(iso, 'etc/ironic-python-agent/ironic.crt'), caPem);
  }
  writeFileSync(
    join(iso, 'etc/ironic-python-agent.d/urls.conf'),
    `[DEFAULT]\napi_url = ${ironic.url}\ninspection_callback_url = ${ironic.url}/v1/continue\nlookup_timeout = 2\nlookup_interval = 0.1\n`,
  );
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), 'console=ttyS0 boot_method=vmedia\n');
  writeFileSync(join(root, 'proc/mounts'), `/dev/sr0 ${iso} iso9660 ro 0 0\n`);
  const run = (async (argv: string[]) => {
    if (argv[0] === 'lsblk') return { stdout: 'NAME="sr0" LABEL="vmedia_boot_iso" TYPE="rom" RM="1"\n', stderr: '' };
    throw new Error(`unexpected program ${argv.join(' ')}`);
  }) as ProgramRunner;
  return { root, run };
}

async function bootConfig(root: string, run: ProgramRunner) {
  await copyConfigFromVmedia({ root, run, log: silentLog });
  return loadConfig({
    root,
    cmdlinePath: join(root, 'proc/cmdline'),
    configFile: join(root, 'absent.json'),
    readVmedia: async () => ({}),
    log: silentLog,
  });
}

test("the CA from the virtual media's ironic-tls.conf is trusted for lookup, heartbeat and inspection", async () => {
  const { root, run } = vmediaRoot('tls', true);
  const config = await bootConfig(root, run);
  // The copy happened (read back from the root) and the INI file named the copied CA.
  assert.equal(readFileSync(join(root, 'etc/ironic-python-agent/ironic.crt'), 'utf8'), caPem);
  assert.equal(config.cafile, join(root, 'etc/ironic-python-agent/ironic.crt'));
  assert.equal(config.insecure, false);
  assert.deepEqual(config.apiUrl, [ironic.url]);

  ironic.reset();
  ironic.reply('other', { status: 202, body: { uuid: FAKE_NODE_UUID } });
  const inspected = await postInspectionData(config.inspectionCallbackUrl, { inventory: {} }, { cafile: config.cafile, attempts: 1 });
  assert.deepEqual(inspected, { uuid: FAKE_NODE_UUID });

  const client = new IronicClient(config, { log: silentLog });
  const found = await client.lookupNode({ addresses: ['52:54:00:12:34:56'] });
  assert.equal(found.node.uuid, FAKE_NODE_UUID);
  await client.heartbeat({ nodeUuid: FAKE_NODE_UUID, callbackUrl: 'http://192.0.2.5:9999', token: 'x', agentVersion: '1' });
  assert.equal(ironic.requestsTo('lookup').length, 1);
  assert.equal(ironic.requestsTo('heartbeat').length, 1);
  assert.equal(ironic.requestsTo('other')[0]?.path, '/v1/continue');
});

test('without the virtual media CA the same server is refused (the certificate is really checked)', async () => {
  const { root, run } = vmediaRoot('plain', false);
  const config = await bootConfig(root, run);
  assert.equal(config.cafile, undefined);
  ironic.reset();
  const log = createMemoryLog();
  const client = new IronicClient(config, { log, sleep: async () => {} });
  await assert.rejects(client.lookupNode({ addresses: ['52:54:00:12:34:56'] }));
  assert.equal(ironic.requestsTo('lookup').length, 0);
  assert.ok(
    log.lines.some((l) => /certificate/i.test(l)),
    log.lines.join('\n'),
  );
});
