/**
 * Acceptance: the agent trusts Ironic's CA given only by an IPA INI file
 * (`[DEFAULT] api_url`, `cafile`, as Ironic's virtual-media ironic-tls.conf
 * sets it) and presents the client certificate of its `certfile`/`keyfile`
 * for lookup and heartbeats with the REAL Ironic, through automated
 * cleaning to `available`. The real Ironic of test/support/ironic.ts serves
 * plain HTTP (requireTls there is [agent]require_tls, about the agent's
 * own listener), so a TLS terminator on 127.0.0.1 with a certificate from a
 * CA made here by openssl stands in front of it, and, as a web server
 * configured for mutual TLS would, accepts only clients with a certificate
 * from that CA: it only forwards bytes.
 *
 *   node --import tsx --test test/integration/agent-ironic-tls.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { hostPxeInterface } from '../support/agent-process.js';
import { sharedIronic, stopSharedIronic, type IronicEnv } from '../support/ironic.js';
import { createLoopDisk, type LoopDisk } from '../support/loopdisk.js';
import { makeTestCa } from '../../agent/test/support/test-ca.js';
import { agentMissingReason, TestScope, withLogs } from './agent-ironic-helpers.js';

const skip = agentMissingReason();
const nic = skip ? { name: '', mac: '' } : hostPxeInterface();
const dir = mkdtempSync(join(tmpdir(), 'rf-agent-tls-'));
let env: IronicEnv;
let disk: LoopDisk;
let scope: TestScope | undefined;
let proxy: tls.Server | undefined;
let tlsConnections = 0;
let clientCertConnections = 0;

before(async () => {
  if (skip) return;
  env = await sharedIronic();
  disk = createLoopDisk();
  const ca = makeTestCa(dir);
  const upstream = new URL(env.apiUrl);
  proxy = tls.createServer({ key: ca.key, cert: ca.cert, requestCert: true, rejectUnauthorized: true, ca: ca.caPem }, (sock) => {
    tlsConnections++;
    if (sock.getPeerCertificate().subject?.CN === 'ramforge test client') clientCertConnections++;
    const up = net.connect(Number(upstream.port), upstream.hostname);
    sock.pipe(up).pipe(sock);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await scope?.cleanup();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  disk?.detach();
  await stopSharedIronic();
  rmSync(dir, { recursive: true, force: true });
});

test('an INI file with api_url, cafile, certfile and keyfile: lookup and heartbeats over mutual TLS to the real Ironic, cleaning to available', {
  skip,
  timeout: 420_000,
}, async () => {
  scope = new TestScope(env, disk);
  const port = (proxy!.address() as AddressInfo).port;
  const ini = join(dir, 'ironic-python-agent.conf');
  writeFileSync(
    ini,
    `[DEFAULT]\n# as Ironic's ironic-tls.conf, plus the URL and a client certificate\napi_url = https://127.0.0.1:${port}\ncafile = ${join(dir, 'ca.crt')}\ncertfile = ${join(dir, 'client.crt')}\nkeyfile = ${join(dir, 'client.key')}\n`,
  );
  await withLogs(scope, async () => {
    const uuid = await scope!.enroll(nic.mac);
    const n = await scope!.cleanToAvailable(uuid, { bootifMac: nic.mac, args: ['--config-file', ini] });
    assert.equal(n.provision_state, 'available');
    assert.equal(n.last_error, null);
    const log = scope!.agents[0]!.logTail(400);
    assert.match(log, new RegExp(`api_url=https://127\\.0\\.0\\.1:${port}`));
    assert.match(log, /lookup found node/);
    assert.ok(tlsConnections >= 2, `the agent's requests went through TLS (${tlsConnections} connections)`);
    assert.equal(clientCertConnections, tlsConnections, 'every connection presented the client certificate');
  });
});
