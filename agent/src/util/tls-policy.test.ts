/**
 * util/tls-policy.ts: the TLS floor holds on real handshakes of
 * util/http.ts against a Node HTTPS peer that offers less (the API server's
 * side is api/server.test.ts, the lookup's ironic/lookup.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { createMemoryLog } from '../../test/support/logs.js';
import { makeTestCa } from '../../test/support/test-ca.js';
import { NoAnswerError, httpRequestText } from './http.js';
import {
  DEFAULT_TLS12_CIPHERS,
  applyTlsSettings,
  cipherSuitesProblem,
  resetTlsPolicy,
  setClientCertificate,
  tlsPolicyOptions,
} from './tls-policy.js';

const scratch = mkdtempSync(join(tmpdir(), 'tls-policy-'));
const ca = makeTestCa(scratch);
after(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => resetTlsPolicy());

/** An HTTPS peer on 127.0.0.1 limited by `opts` (versions, ciphers). */
async function peer(opts: https.ServerOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const server = https.createServer({ key: ca.key, cert: ca.cert, ...opts }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const get = (url: string) => httpRequestText(url, { ca: Buffer.from(ca.caPem), timeoutMs: 5000 });
const refused = (e: unknown) => e instanceof NoAnswerError && e.connected;

describe('tlsPolicyOptions', () => {
  it("defaults to IPA master's: TLS 1.2+, ECDHE AES-GCM under 1.2, TLS 1.3's suites kept", () => {
    const o = tlsPolicyOptions();
    assert.equal(o.minVersion, 'TLSv1.2');
    assert.equal(o.maxVersion, 'TLSv1.3');
    assert.equal(o.ciphers, `TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:${DEFAULT_TLS12_CIPHERS}`);
    assert.deepEqual(tlsPolicyOptions({ minVersion: '1.3', cipherSuites: 'AES128-SHA' }), { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    assert.equal(
      tlsPolicyOptions({ minVersion: '1.2', cipherSuites: 'TLS_AES_128_GCM_SHA256:AES128-SHA' }).ciphers,
      'TLS_AES_128_GCM_SHA256:AES128-SHA',
    );
  });

  it('names what OpenSSL refuses', () => {
    assert.equal(cipherSuitesProblem('ECDHE-RSA-AES128-GCM-SHA256'), undefined);
    assert.match(cipherSuitesProblem('NOT-A-CIPHER') ?? '', /cipher/i);
  });
});

describe('outbound connections (util/http.ts)', () => {
  it('refuse a TLS 1.2 peer that offers only CBC suites, until the operator allows one', async () => {
    const p = await peer({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' });
    try {
      await assert.rejects(get(p.url), refused);
      const log = createMemoryLog();
      applyTlsSettings('the agent config', undefined, 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256', log);
      assert.equal((await get(p.url)).text, 'ok');
      assert.match(
        log.lines.join('\n'),
        /TLS policy from the agent config: TLS 1\.2\+, TLS 1\.2 suites ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256/,
      );
    } finally {
      await p.close();
    }
  });

  it('speak TLS 1.2 with AES-GCM by default, and refuse it once the floor is 1.3', async () => {
    const p = await peer({ maxVersion: 'TLSv1.2' });
    try {
      assert.equal((await get(p.url)).text, 'ok');
      applyTlsSettings('test', '1.3', undefined, createMemoryLog());
      await assert.rejects(get(p.url), refused);
    } finally {
      await p.close();
    }
  });
});

describe('client certificate (certfile/keyfile)', () => {
  it("is presented to a server that requires one; without it that server refuses; one of the two alone is ignored with IPA's warning", async () => {
    // The peer requires a client certificate signed by the test CA, as an Apache SSLVerifyClient in front of Ironic.
    const p = await peer({ requestCert: true, rejectUnauthorized: true, ca: ca.caPem });
    try {
      await assert.rejects(get(p.url), refused, 'no certificate: the handshake fails');
      const log = createMemoryLog();
      setClientCertificate({ certfile: ca.clientCertFile }, log);
      assert.match(log.lines.join('\n'), /WARNING Only one of 'keyfile' and 'certfile' options is defined/);
      await assert.rejects(get(p.url), refused);
      setClientCertificate({ certfile: ca.clientCertFile, keyfile: ca.clientKeyFile }, log);
      assert.equal((await get(p.url)).text, 'ok');
      resetTlsPolicy();
      await assert.rejects(get(p.url), refused, 'reset with the policy');
    } finally {
      await p.close();
    }
  });
});
