import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDriveHttpOptions, downloadImage, type DownloadOptions } from './download.js';
import { BlockWriter, openImageSink } from './block-writer.js';
import { liveHashWorkers, startHasher, type BlockHasher } from './block-hasher.js';
import { isNoProxy } from '../util/http.js';
import { startImageServer, type TestImageServer } from '../../test/support/image-server.js';
import type { AddressInfo } from 'node:net';
import { configBasicAuth } from './run-prepare-image.js';
import { createDefaultConfig } from '../config.js';

const has =
  (re: RegExp) =>
  (e: unknown): boolean =>
    re.test(`${(e as Error).name} ${(e as Error).message} ${(e as { details?: string }).details ?? ''}`);
const data = randomBytes(3 << 20);
const sha256 = createHash('sha256').update(data).digest('hex');
const opts: DownloadOptions = { md5Enabled: false, downloadTimeoutS: 2, retries: 2, retryIntervalS: 0.05, maxDurationS: 0 };
let srv: TestImageServer;
let dir: string;

before(async () => {
  srv = await startImageServer({
    '/img.raw': { data },
    '/SHA256SUMS': { data: Buffer.from(`# sums\n${'0'.repeat(64)}  other\n${sha256}  img.raw\n`) },
  });
  dir = await mkdtemp(join(tmpdir(), 'rf-dl-'));
});
after(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

const info = (extra: Record<string, unknown> = {}) => ({
  id: 'img',
  urls: [srv.url('/img.raw')],
  os_hash_algo: 'sha256',
  os_hash_value: sha256,
  ...extra,
});
const gets = () => srv.log.filter((l) => l === 'GET /img.raw').length;

async function fetchTo(i: Record<string, unknown>, o: Partial<DownloadOptions> = {}, file = join(dir, 'out')) {
  srv.log.length = 0;
  const r = await downloadImage(i, () => openImageSink(file, 'file'), { ...opts, ...o });
  return { r, out: await readFile(file) };
}

test('streams, hashes and writes the image', async () => {
  const { r, out } = await fetchTo(info());
  assert.equal(r.digest, sha256);
  assert.equal(r.bytes, data.length);
  assert.ok(out.equals(data));
});

test('checksum from a checksums-file URL', async () => {
  const { r } = await fetchTo({ id: 'img', urls: [srv.url('/img.raw')], checksum: srv.url('/SHA256SUMS') });
  assert.equal(r.algo, 'sha256');
});

test("a write error at sink setup (the O_DIRECT probe) on the plain-HTTP path is the command's failure, not a crash", async () => {
  // The direct handle fails the alignment probe, as a full or failing target does.
  const failing = (code: string) =>
    ({
      write: async () => {
        throw Object.assign(new Error(`simulated ${code}`), { code });
      },
      close: async () => {},
    }) as unknown as FileHandle;
  const sinkWith = (code: string) => async () => {
    const file = join(dir, 'probe-fail');
    return new BlockWriter(await open(file, 'w'), file, { direct: failing(code) });
  };
  for (const [code, want] of [
    ['EIO', /ImageWriteError.*simulated EIO/],
    ['ENOSPC', /no space left on device/],
  ] as const) {
    srv.log.length = 0;
    await assert.rejects(downloadImage(info(), sinkWith(code), opts), has(want));
    // A target error is final: not retried.
    assert.equal(gets(), 1);
  }
});

test('500 then success is retried', async () => {
  srv.files.get('/img.raw')!.faults = [{ status: 500 }, { status: 503 }];
  const { out } = await fetchTo(info());
  assert.equal(gets(), 3);
  assert.ok(out.equals(data));
});

test('404 is fatal, not retried', async () => {
  await assert.rejects(fetchTo({ ...info(), urls: [srv.url('/missing')] }), has(/ImageDownloadFatalError.*HTTP 404/));
  assert.equal(srv.log.length, 1);
});

test('URLs are tried in order', async () => {
  const { out } = await fetchTo({ ...info(), urls: [srv.url('/missing'), srv.url('/img.raw')] });
  assert.ok(out.equals(data));
});

test('every URL failing, one of them for a reason that may pass (5xx): the whole download is tried again, as in IPA', async () => {
  // The first pass: /missing refuses (404), /img.raw answers 500 until its connection retries are spent.
  srv.files.get('/img.raw')!.faults = Array.from({ length: opts.retries + 1 }, () => ({ status: 500 }));
  const { out } = await fetchTo({ ...info(), urls: [srv.url('/missing'), srv.url('/img.raw')] });
  assert.ok(out.equals(data));
  assert.equal(gets(), opts.retries + 2, 'the second pass got the image');
  assert.equal(srv.log.filter((l) => l === 'GET /missing').length, 2);
});

test('every URL refusing (4xx): final at once, no second pass', async () => {
  await assert.rejects(
    fetchTo({ ...info(), urls: [srv.url('/missing'), srv.url('/gone')] }),
    has(/ImageDownloadFatalError.*no URL worked.*HTTP 404.*HTTP 404/),
  );
  assert.equal(srv.log.length, 2);
});

test('a connection cut half-way is retried', async () => {
  srv.files.get('/img.raw')!.faults = [{ cutAfter: 1 << 20 }];
  const { out } = await fetchTo(info());
  assert.equal(gets(), 2);
  assert.ok(out.equals(data));
});

test('a stall longer than the timeout is an error, then retried', async () => {
  // Margins a loaded host keeps: the retried GET must never go 2 s without data, the stall outlasts the timeout by 4 s.
  srv.files.get('/img.raw')!.faults = [{ stallMs: 6000 }];
  const { out } = await fetchTo(info(), { downloadTimeoutS: 2 });
  assert.equal(gets(), 2);
  assert.ok(out.equals(data));
});

test('wrong checksum: ImageChecksumError after retries', async () => {
  await assert.rejects(
    fetchTo(info({ os_hash_value: 'f'.repeat(64) })),
    has(/ImageChecksumError.*image checksum: f{64}; verification checksum: [0-9a-f]{64}/),
  );
  assert.equal(gets(), opts.retries + 1);
});

test('max duration aborts with 408', async () => {
  srv.files.get('/img.raw')!.faults = [{ stallMs: 3000 }];
  await assert.rejects(fetchTo(info(), { maxDurationS: 0.3, downloadTimeoutS: 5 }), (e: unknown) => (e as { code: number }).code === 408);
  srv.files.get('/img.raw')!.faults = [];
});

test('http proxy gets absolute-URI requests; no_proxy bypasses it', async () => {
  // The runner's own proxy settings must not decide this test: cleared, and put back after.
  const saved = Object.fromEntries(
    ['http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'].map((k) => [k, process.env[k]]),
  );
  for (const k of Object.keys(saved)) delete process.env[k];
  const seen: string[] = [];
  const proxy = http.createServer((req, res) => {
    seen.push(req.url!);
    http.get(req.url!, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const purl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    await fetchTo(info({ proxies: { http: purl } }));
    assert.deepEqual(seen, [srv.url('/img.raw')]);
    await fetchTo(info({ proxies: { http: purl }, no_proxy: 'localhost,127.0.0.1' }));
    assert.equal(seen.length, 1);
    // As requests merges them in IPA: the environment's proxy when image_info names none, and its no_proxy.
    process.env.http_proxy = purl;
    await fetchTo(info());
    assert.equal(seen.length, 2);
    process.env.no_proxy = '127.0.0.1';
    await fetchTo(info());
    assert.equal(seen.length, 2);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    proxy.closeAllConnections();
    proxy.close();
  }
});

test('no_proxy matching', () => {
  const u = new URL('https://img.example.com:8443/x');
  assert.ok(isNoProxy(u, '*'));
  assert.ok(isNoProxy(u, 'foo, .example.com'));
  assert.ok(isNoProxy(u, 'example.com'));
  assert.ok(isNoProxy(u, 'img.example.com:8443'));
  assert.ok(!isNoProxy(u, 'img.example.com:443'));
  assert.ok(!isNoProxy(u, 'ample.com,other'));
});

test('Authorization from image_request_authorization and http_basic', async () => {
  const auths: string[] = [];
  const s = http.createServer((req, res) => {
    auths.push(String(req.headers.authorization));
    res.end(data);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const u = `http://127.0.0.1:${(s.address() as AddressInfo).port}/img.raw`;
  try {
    await downloadImage(
      { ...info(), urls: [u], image_request_authorization: Buffer.from('Bearer f00').toString('base64') },
      () => openImageSink(join(dir, 'a'), 'file'),
      opts,
    );
    await downloadImage(
      { ...info(), urls: [u], image_server_auth_strategy: 'http_basic', image_server_user: 'u', image_server_password: 'p' },
      () => openImageSink(join(dir, 'a'), 'file'),
      opts,
    );
    assert.deepEqual(auths, ['Bearer f00', `Basic ${Buffer.from('u:p').toString('base64')}`]);
  } finally {
    s.closeAllConnections();
    s.close();
  }
});

test("a config drive elsewhere does not get image_info's own credentials; one on the image's server does", () => {
  const token = Buffer.from('Bearer registry-token').toString('base64');
  const img = { ...info(), urls: ['https://registry.example:5000/v2/img/blobs/sha256:ab'], image_request_authorization: token };
  const auth = (cd: string, agentAuth?: { user: string; password: string }) =>
    configDriveHttpOptions(img, { ...opts, ...(agentAuth ? { basicAuth: agentAuth } : {}) }, cd).headers?.authorization;
  assert.equal(auth('https://registry.example:5000/cd.gz'), 'Bearer registry-token');
  assert.equal(auth('http://conductor.example:8080/configdrive/n.gz'), undefined);
  assert.equal(auth('https://registry.example/cd.gz'), undefined, 'another port is another server');
  // The agent's own image_server_* basic auth (README) still applies there.
  assert.equal(
    auth('http://conductor.example:8080/configdrive/n.gz', { user: 'u', password: 'p' }),
    `Basic ${Buffer.from('u:p').toString('base64')}`,
  );
  const basic = {
    ...info(),
    urls: ['http://img.example/x.raw'],
    image_server_auth_strategy: 'http_basic',
    image_server_user: 'iu',
    image_server_password: 'ip',
  };
  assert.equal(
    configDriveHttpOptions(basic, opts, 'http://img.example/cd').headers?.authorization,
    `Basic ${Buffer.from('iu:ip').toString('base64')}`,
  );
  assert.equal(configDriveHttpOptions(basic, opts, 'http://swift.example/cd').headers?.authorization, undefined);
});

test("the agent config's image_server_* basic auth (IPA's oslo-conf fallback) reaches the image and checksums-file requests", async () => {
  const want = `Basic ${Buffer.from('ipa:s3cret').toString('base64')}`;
  const seen: string[] = [];
  const s = http.createServer((req, res) => {
    seen.push(`${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.headers.authorization !== want) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="images"' }).end('unauthorized');
      return;
    }
    res.end(req.url === '/SHA256SUMS' ? `${sha256}  img.raw\n` : data);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  const byUrl = { id: 'img', urls: [`${base}/img.raw`], checksum: `${base}/SHA256SUMS` };
  const cfg = { ...createDefaultConfig(), imageServerAuthStrategy: 'http_basic', imageServerUser: 'ipa', imageServerPassword: 's3cret' };
  try {
    const basicAuth = configBasicAuth(cfg);
    assert.deepEqual(basicAuth, { user: 'ipa', password: 's3cret' });
    const { r, out } = await fetchTo(byUrl, { basicAuth });
    assert.equal(r.digest, sha256);
    assert.ok(out.equals(data));
    assert.deepEqual(seen, [`/SHA256SUMS ${want}`, `/img.raw ${want}`]);
    // Without it the server's 401 is fatal (IPA: a 4xx is not retried).
    seen.length = 0;
    await assert.rejects(fetchTo(byUrl), has(/401/));
    // image_info's own credentials win over the agent config's.
    seen.length = 0;
    await assert.rejects(
      fetchTo(
        { ...byUrl, image_server_auth_strategy: 'http_basic', image_server_user: 'other', image_server_password: 'x' },
        { basicAuth },
      ),
      has(/401/),
    );
    assert.ok(
      seen.every((l) => l.endsWith(`Basic ${Buffer.from('other:x').toString('base64')}`)),
      seen.join('\n'),
    );
    // noauth (the default) sends nothing; http_basic with an empty password is refused before any request.
    assert.equal(configBasicAuth(createDefaultConfig()), undefined);
    seen.length = 0;
    await assert.rejects(
      fetchTo(byUrl, { basicAuth: configBasicAuth({ ...cfg, imageServerPassword: undefined }) }),
      has(/image_server_password is empty/),
    );
    assert.deepEqual(seen, []);
  } finally {
    s.closeAllConnections();
    s.close();
  }
});

// The worker path (images from 64 MiB up by default): hashWorkerMinBytes 0 takes it for the 3 MiB test
// image, and 256 KiB blocks make the writer hand over a dozen blocks while it writes them.
const inWorker: Partial<DownloadOptions> = { hashWorkerMinBytes: 0 };
async function fetchBlocks(i: Record<string, unknown>, o: Partial<DownloadOptions> = {}, file = join(dir, 'out-w')) {
  srv.log.length = 0;
  const r = await downloadImage(i, () => openImageSink(file, 'file', { blockSize: 256 << 10 }), { ...opts, ...inWorker, ...o });
  return { r, out: await readFile(file) };
}

test('hashing in a worker: same digest and bytes, and no worker left after the step', async () => {
  let workers = 0;
  const counting: typeof startHasher = (algo, big, onFallback) => {
    if (big) workers++;
    return startHasher(algo, big, onFallback);
  };
  const { r, out } = await fetchBlocks(info(), { newHasher: counting });
  assert.equal(workers, 1);
  assert.equal(r.digest, sha256);
  assert.equal(r.bytes, data.length);
  assert.ok(out.equals(data));
  const md5 = createHash('md5').update(data).digest('hex');
  assert.equal((await fetchBlocks({ id: 'img', urls: [srv.url('/img.raw')], checksum: md5 }, { md5Enabled: true })).r.digest, md5);
  assert.equal(liveHashWorkers(), 0);
});

test('hashing in a worker: a wrong checksum is still an ImageChecksumError, every attempt', async () => {
  await assert.rejects(
    fetchBlocks(info({ os_hash_value: 'f'.repeat(64) })),
    has(/ImageChecksumError.*image checksum: f{64}; verification checksum: [0-9a-f]{64}/),
  );
  assert.equal(gets(), opts.retries + 1);
  assert.equal(liveHashWorkers(), 0);
});

test('hashing in a worker: a cut connection is retried with a fresh worker', async () => {
  srv.files.get('/img.raw')!.faults = [{ cutAfter: 1 << 20 }];
  const { r, out } = await fetchBlocks(info());
  assert.equal(gets(), 2);
  assert.equal(r.digest, sha256);
  assert.ok(out.equals(data));
  assert.equal(liveHashWorkers(), 0);
});

test("the hasher's failure is the step's error (after the retries), and its worker is closed", async () => {
  const closed: boolean[] = [];
  const failing: typeof startHasher = (algo, big, onFallback) => {
    const real = startHasher(algo, big, onFallback);
    let n = 0;
    const h: BlockHasher = {
      update: async (v) => {
        if (++n === 3) throw new Error('the checksum worker failed: boom');
        return real.update(v);
      },
      digest: () => real.digest(),
      close: async () => {
        closed.push(true);
        await real.close();
      },
    };
    return h;
  };
  await assert.rejects(
    fetchBlocks(info(), { newHasher: failing }),
    has(/ImageDownloadError.*computing the sha256 checksum failed: the checksum worker failed: boom/),
  );
  assert.equal(gets(), opts.retries + 1);
  assert.equal(closed.length, opts.retries + 1);
  assert.equal(liveHashWorkers(), 0);
});
