import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadImage, type DownloadOptions } from './download.js';
import { openImageSink } from './block-writer.js';

const data = randomBytes(1 << 20);
const digest = createHash('sha256').update(data).digest('hex');
let dir: string;
let server: https.Server;
let proxy: http.Server;
const connects: string[] = [];
/** Tunnelled sockets leave the proxy's bookkeeping: closeAllConnections() cannot see them. */
const tunnels: net.Socket[] = [];
const opts: DownloadOptions = { md5Enabled: false, downloadTimeoutS: 5, retries: 0, retryIntervalS: 0, maxDurationS: 0 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = https.createServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (_req, res) =>
    res.end(data),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // A CONNECT-only proxy: it never sees the TLS plaintext.
  proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, sock: net.Socket, head) => {
    connects.push(req.url!);
    tunnels.push(sock);
    const [host, port] = req.url!.split(':');
    const up = net.connect(Number(port), host, () => {
      sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    tunnels.push(up);
    up.on('error', () => sock.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
});
after(async () => {
  for (const t of tunnels) t.destroy();
  server.closeAllConnections();
  server.close();
  proxy.closeAllConnections();
  proxy.close();
  await rm(dir, { recursive: true, force: true });
});

const url = (): string => `https://127.0.0.1:${(server.address() as AddressInfo).port}/img.raw`;
const info = (extra: Record<string, unknown> = {}) => ({
  id: 'img',
  urls: [url()],
  os_hash_algo: 'sha256',
  os_hash_value: digest,
  ...extra,
});

test('https through a CONNECT tunnel, verified with cafile', async () => {
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const r = await downloadImage(info({ proxies: { https: proxyUrl } }), () => openImageSink(join(dir, 'out'), 'file'), {
    ...opts,
    cafile: join(dir, 'cert.pem'),
  });
  assert.equal(r.digest, digest);
  assert.deepEqual(connects, [`127.0.0.1:${(server.address() as AddressInfo).port}`]);
});

test('self-signed server: refused unless insecure', async () => {
  await assert.rejects(
    downloadImage(info(), () => openImageSink(join(dir, 'out'), 'file'), opts),
    (e: unknown) => /self.signed/i.test(String((e as { details?: string }).details)),
  );
  const r = await downloadImage(info(), () => openImageSink(join(dir, 'out'), 'file'), { ...opts, insecure: true });
  assert.equal(r.bytes, data.length);
});

test('http:// through an https:// proxy: TLS to the proxy (verified with cafile), the absolute URI inside it', async () => {
  const seen: string[] = [];
  const tlsProxy = https.createServer(
    { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) },
    (req, res) => {
      seen.push(req.url!);
      res.end(data);
    },
  );
  await new Promise<void>((r) => tlsProxy.listen(0, '127.0.0.1', r));
  try {
    const proxyUrl = `https://127.0.0.1:${(tlsProxy.address() as AddressInfo).port}`;
    const plain = 'http://images.invalid/img.raw';
    const r = await downloadImage(info({ urls: [plain], proxies: { http: proxyUrl } }), () => openImageSink(join(dir, 'out'), 'file'), {
      ...opts,
      cafile: join(dir, 'cert.pem'),
    });
    assert.equal(r.digest, digest);
    assert.deepEqual(seen, [plain]);
    // The proxy's certificate is checked as the target's would be: not trusted without the CA.
    await assert.rejects(
      downloadImage(info({ urls: [plain], proxies: { http: proxyUrl } }), () => openImageSink(join(dir, 'out'), 'file'), opts),
    );
    assert.equal(seen.length, 1);
  } finally {
    tlsProxy.closeAllConnections();
    tlsProxy.close();
  }
});
