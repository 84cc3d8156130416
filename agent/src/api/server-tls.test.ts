/** Auto-TLS pairs kept across restarts of the agent within one boot. */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTestConfig } from '../../test/support/fake-ironic.js';
import { generateTlsCertificate } from '../ironic/tls.js';
import { chooseServerTls } from './server-tls.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'rf-server-tls-'));
  dirs.push(d);
  return d;
};

describe('chooseServerTls (auto TLS)', () => {
  const config = makeTestConfig({ apiUrl: ['http://10.0.0.1:6385'] });
  it('reuses the pair an earlier start kept, and makes a new one when the kept key does not match its certificate', async () => {
    const stateDir = tempDir();
    const first = await chooseServerTls(config, { ip: '192.0.2.10', ironicVersion: '1.80', stateDir });
    assert.equal(first.protocol, 'https');
    const again = await chooseServerTls(config, { ip: '192.0.2.10', ironicVersion: '1.80', stateDir });
    assert.equal(again.verifyCaPem, first.verifyCaPem, 'the same PEM the conductor stored');
    assert.deepEqual(readdirSync(stateDir).sort(), ['agent.crt', 'agent.key'], 'no temporary files left');
    // A start that stopped between the two files: a key of another pair.
    const other = await generateTlsCertificate('192.0.2.10', { dir: tempDir() });
    writeFileSync(join(stateDir, 'agent.key'), other.keyPem);
    const fresh = await chooseServerTls(config, { ip: '192.0.2.10', ironicVersion: '1.80', stateDir });
    assert.notEqual(fresh.verifyCaPem, first.verifyCaPem);
    assert.ok(new X509Certificate(fresh.tls!.certPem).checkPrivateKey(createPrivateKey(fresh.tls!.keyPem)));
    assert.equal(readFileSync(join(stateDir, 'agent.key'), 'utf8'), fresh.tls!.keyPem);
    // The agent starts again on another address: the kept certificate names the old one, so a new pair for the new one.
    const moved = await chooseServerTls(config, { ip: '198.51.100.7', ironicVersion: '1.80', stateDir });
    assert.notEqual(moved.verifyCaPem, fresh.verifyCaPem);
    assert.equal(new X509Certificate(moved.tls!.certPem).checkIP('198.51.100.7'), '198.51.100.7');
    assert.equal(new X509Certificate(moved.tls!.certPem).checkIP('192.0.2.10'), undefined);
  });
});
