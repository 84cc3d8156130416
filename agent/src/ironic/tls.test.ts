import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeTestConfig } from '../../test/support/fake-ironic.js';
import { generateTlsCertificate, shouldUseAutoTls } from './tls.js';

const scratch = mkdtempSync(join(tmpdir(), 'agent-tls-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const tempDir = () => mkdtempSync(join(scratch, 'd-'));

/** Serves one JSON document over HTTPS on 127.0.0.1 with the given PEMs. */
async function serveHttps(certPem: string, keyPem: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = https.createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function getJson(url: string, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, ...(servername ? { servername } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

describe('generateTlsCertificate', () => {
  it('makes a P-384, SHA-512, self-signed cert for the IP, valid from now-1h for 90 days', async () => {
    const dir = tempDir();
    const now = new Date('2026-11-21T12:00:00Z');
    const r = await generateTlsCertificate('192.0.2.10', { dir, hostname: 'agent-host', now });
    const cert = new X509Certificate(r.certPem);
    assert.equal(cert.subject, 'CN=agent-host');
    assert.equal(cert.issuer, 'CN=agent-host');
    assert.equal(cert.subjectAltName, 'IP Address:192.0.2.10');
    assert.equal(cert.checkIP('192.0.2.10'), '192.0.2.10');
    assert.equal(new Date(cert.validFrom).toISOString(), '2026-11-21T11:00:00.000Z');
    assert.equal(new Date(cert.validTo).toISOString(), '2027-02-19T12:00:00.000Z');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.ok(cert.verify(cert.publicKey), 'self-signed signature verifies');
    assert.ok(cert.checkPrivateKey(createPrivateKey(r.keyPem)));
    // Signature algorithm and criticality are not exposed by X509Certificate: read the DER.
    const der = cert.raw.toString('hex');
    assert.ok(der.includes('06082a8648ce3d040304'), 'ecdsa-with-SHA512 OID');
    assert.ok(der.includes('0603551d110101ff'), 'subjectAltName marked critical');
    assert.equal(readFileSync(join(dir, 'agent.crt'), 'utf8'), r.certPem);
    assert.equal(readFileSync(join(dir, 'agent.key'), 'utf8'), r.keyPem);
    assert.equal(statSync(join(dir, 'agent.key')).mode & 0o777, 0o600);
  });

  it('is read by OpenSSL as written, and past 2049 its dates become GeneralizedTime', {
    skip: !existsSync('/usr/bin/openssl'),
  }, async () => {
    const dir = tempDir();
    const r = await generateTlsCertificate('192.0.2.10', { dir, hostname: 'agent-host', now: new Date('2049-12-01T00:00:00Z') });
    const { stdout } = await promisify(execFile)('/usr/bin/openssl', ['x509', '-in', r.certFile, '-noout', '-text']);
    assert.match(stdout, /Version: 3 \(0x2\)/);
    assert.match(stdout, /Signature Algorithm: ecdsa-with-SHA512/);
    assert.match(stdout, /X509v3 Subject Alternative Name: critical\s+IP Address:192\.0\.2\.10/);
    assert.match(stdout, /Not After : Mar {1,2}1 00:00:00 2050 GMT/);
    assert.match(stdout, /ASN1 OID: secp384r1/);
    const cert = new X509Certificate(r.certPem);
    assert.equal(new Date(cert.validTo).toISOString(), '2050-03-01T00:00:00.000Z');
    assert.ok(cert.raw.includes(Buffer.from('20500301000000Z')), 'notAfter as GeneralizedTime');
  });

  it('honours curve P-256 and IPv6 addresses', async () => {
    const r = await generateTlsCertificate('fd00::5', { dir: tempDir(), curve: 'P-256' });
    const cert = new X509Certificate(r.certPem);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.subjectAltName, 'IP Address:FD00:0:0:0:0:0:0:5');
  });

  it('is accepted by an https server and verifies against its PEM with the IP as host', async () => {
    const r = await generateTlsCertificate('127.0.0.1', { dir: tempDir() });
    const srv = await serveHttps(r.certPem, r.keyPem);
    try {
      assert.equal(await getJson(`https://127.0.0.1:${srv.port}/`, r.certPem), '{"ok":true}');
      // Another certificate as CA must fail: the check is real.
      const other = await generateTlsCertificate('127.0.0.1', { dir: tempDir() });
      await assert.rejects(getJson(`https://127.0.0.1:${srv.port}/`, other.certPem));
    } finally {
      await srv.close();
    }
  });

  it('is rejected for a host name that is not the IP SAN', async () => {
    const r = await generateTlsCertificate('127.0.0.2', { dir: tempDir() });
    const srv = await serveHttps(r.certPem, r.keyPem);
    try {
      await assert.rejects(
        getJson(`https://127.0.0.1:${srv.port}/`, r.certPem),
        /IP: 127.0.0.1 is not in the cert's list|ERR_TLS_CERT_ALTNAME_INVALID/,
      );
    } finally {
      await srv.close();
    }
  });

  it("passes the conductor's check (python requests, verify=<pem file>)", { skip: !existsSync('/usr/bin/python3') }, async (t) => {
    const dir = tempDir();
    const r = await generateTlsCertificate('127.0.0.1', { dir });
    const srv = await serveHttps(r.certPem, r.keyPem);
    try {
      const py = 'import sys, requests; print(requests.get(sys.argv[1], verify=sys.argv[2], timeout=10).text)';
      const out = await promisify(execFile)('/usr/bin/python3', ['-c', py, `https://127.0.0.1:${srv.port}/`, join(dir, 'agent.crt')]).catch(
        (e: { stderr?: string }) => {
          if (/No module named 'requests'/.test(e.stderr ?? '')) return undefined;
          throw e;
        },
      );
      if (!out) return t.skip('python3-requests is not installed');
      assert.equal(out.stdout.trim(), '{"ok":true}');
    } finally {
      await srv.close();
    }
  });
});

describe('shouldUseAutoTls', () => {
  const base = { apiUrl: ['http://10.0.0.1:6385'] };
  it('needs enable_auto_tls, no listen_tls, an api_url and Ironic >= 1.68', () => {
    assert.equal(shouldUseAutoTls(makeTestConfig(base), '1.68'), true);
    assert.equal(shouldUseAutoTls(makeTestConfig(base), '1.80'), true);
    assert.equal(shouldUseAutoTls(makeTestConfig(base), '1.67'), false);
    assert.equal(shouldUseAutoTls(makeTestConfig({ ...base, listenTls: true }), '1.80'), false);
    assert.equal(shouldUseAutoTls(makeTestConfig({ ...base, enableAutoTls: false }), '1.80'), false);
    assert.equal(shouldUseAutoTls(makeTestConfig(), '1.80'), false);
  });
});
