/** api/server.ts: the TLS listener keeps the process's TLS floor (util/tls-policy.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { createMemoryLog } from '../../test/support/logs.js';
import { makeTestCa } from '../../test/support/test-ca.js';
import { makeTestConfig } from '../../test/support/fake-ironic.js';
import { applyTlsSettings, resetTlsPolicy } from '../util/tls-policy.js';
import { startServer } from './server.js';

const scratch = mkdtempSync(join(tmpdir(), 'api-server-'));
const ca = makeTestCa(scratch);
after(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => resetTlsPolicy());

describe("the agent's API server (auto TLS)", () => {
  it('refuses a client that offers only TLS 1.2 when the floor is 1.3', async () => {
    applyTlsSettings('test', '1.3', undefined, createMemoryLog());
    const app = { handle: (_req: unknown, res: { end: (s: string) => void }) => res.end('agent') };
    const srv = await startServer(app as never, { ...makeTestConfig(), listenHost: '127.0.0.1', listenPort: 0 }, {
      certPem: ca.cert.toString(),
      keyPem: ca.key.toString(),
    } as never);
    try {
      const ask = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
        new Promise<string>((resolve, reject) => {
          const req = https.get(srv.url, { ca: ca.caPem, agent: false, maxVersion }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
        });
      assert.equal(await ask('TLSv1.3'), 'agent');
      await assert.rejects(ask('TLSv1.2'), /version|alert/i);
    } finally {
      await srv.close();
    }
  });
});
