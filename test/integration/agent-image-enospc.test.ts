/**
 * Image download onto a full filesystem: ENOSPC is a clear error and is not
 * retried. Needs root (mounts a 2 MiB tmpfs); skipped otherwise.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadImage, type DownloadOptions } from '../../agent/src/image/download.js';
import { openImageSink } from '../../agent/src/image/block-writer.js';
import { startImageServer, type TestImageServer } from '../../agent/test/support/image-server.js';

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
  srv = await startImageServer({ '/img.raw': { data } });
  dir = await mkdtemp(join(tmpdir(), 'rf-dl-'));
});
after(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

const info = () => ({ id: 'img', urls: [srv.url('/img.raw')], os_hash_algo: 'sha256', os_hash_value: sha256 });
const gets = () => srv.log.filter((l) => l === 'GET /img.raw').length;

async function fetchTo(file: string) {
  srv.log.length = 0;
  return downloadImage(info(), () => openImageSink(file, 'file'), opts);
}

test('ENOSPC is a clear error and is not retried', { skip: process.getuid?.() !== 0 && 'needs root for mount' }, async () => {
  const mnt = join(dir, 'small');
  await mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  try {
    await assert.rejects(fetchTo(join(mnt, 'img')), has(/No space left on device.*ENOSPC/));
    assert.equal(gets(), 1);
  } finally {
    execFileSync('umount', [mnt]);
  }
});
