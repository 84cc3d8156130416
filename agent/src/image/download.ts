/**
 * IPA's ImageDownload + _download_image (§10.3): stream an image from the
 * first working URL into a sink, hashing on the fly, with connection retries
 * inside and a whole download-and-verify retry loop outside.
 */
import { finished, pipeline } from 'node:stream/promises';
import { errMsg, ImageChecksumError, ImageDownloadError, ImageWriteError } from '../errors.js';
import type { Log } from '../util/log.js';
import { resolveChecksum, selectChecksumSource, type ResolvedChecksum } from './checksum.js';
import { HashError, SinkWriteError, type BlockWriter } from './block-writer.js';
import { HASH_WORKER_MIN_BYTES, startHasher, type BlockHasher } from './block-hasher.js';
import { envProxies, httpGetBuffer, httpRequest, readCaFile, retry, type HttpOptions, type HttpResponse } from '../util/http.js';
import { rawGet, rawGetApplies, type RawResponse } from '../util/raw-http.js';
import { ImageDownloadFatalError, ImageDownloadOutOfSpaceError, ImageDownloadTimeoutError, isFatalError } from './image-errors.js';

export interface DownloadOptions {
  md5Enabled: boolean;
  /** Connect timeout and longest allowed stall between two chunks. */
  downloadTimeoutS: number;
  retries: number;
  retryIntervalS: number;
  /** 0 = unlimited. */
  maxDurationS: number;
  insecure?: boolean;
  cafile?: string;
  /**
   * Agent-config basic auth (image_server_auth_strategy http_basic), used
   * when image_info has none, for the image, its checksums file and a
   * config-drive URL; an empty user or password is refused.
   */
  basicAuth?: { user: string; password: string };
  signal?: AbortSignal;
  log?: Log;
  /** Images of at least this many bytes (or of unknown length) are hashed in a worker thread; default 64 MiB. */
  hashWorkerMinBytes?: number;
  /** Makes the hasher for a BlockWriter sink (tests inject failures here); default startHasher. */
  newHasher?: typeof startHasher;
}

export interface DownloadResult {
  algo: string;
  digest: string;
  bytes: number;
  url: string;
}

const MAX_REDIRECTS = 5;

/** Headers and transport options image_info asks for (auth, proxies, TLS). */
export function buildHttpOptions(info: Record<string, unknown>, o: DownloadOptions): HttpOptions {
  const headers: Record<string, string> = {};
  const supplied = info.image_request_authorization;
  if (typeof supplied === 'string' && supplied) {
    // The conductor base64-encodes the literal header value.
    headers.authorization = Buffer.from(supplied, 'base64').toString('utf8');
  } else if (info.image_server_auth_strategy === 'http_basic') {
    const user = String(info.image_server_user ?? '');
    const pass = String(info.image_server_password ?? '');
    if (!user || !pass)
      throw new ImageDownloadFatalError(
        String(info.id),
        'http_basic auth requested but image_server_user or image_server_password is empty; set both in [deploy] on the conductor',
      );
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  } else if (o.basicAuth) {
    if (!o.basicAuth.user || !o.basicAuth.password)
      throw new ImageDownloadFatalError(
        String(info.id),
        'image_server_auth_strategy is http_basic but image_server_user or image_server_password is empty; set both in the agent config',
      );
    headers.authorization = `Basic ${Buffer.from(`${o.basicAuth.user}:${o.basicAuth.password}`).toString('base64')}`;
  }
  // As requests merges them in IPA: image_info's proxies over the environment's, scheme by scheme; its no_proxy first.
  const env = envProxies();
  const given = (info.proxies ?? {}) as { http?: string; https?: string };
  const proxies = { ...env.proxies, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v)) };
  return {
    headers,
    proxies,
    noProxy: typeof info.no_proxy === 'string' && info.no_proxy ? info.no_proxy : (env.noProxy ?? null),
    insecure: o.insecure,
    ca: readCaFile(o.cafile),
    timeoutMs: o.downloadTimeoutS * 1000,
    maxRedirects: MAX_REDIRECTS,
  };
}

/**
 * The config drive's request options. IPA fetches a config-drive URL with no
 * credentials at all. Here image_info's own credentials
 * (`image_request_authorization`, its `http_basic` user and password) go
 * only to a config drive on the image's own server (the origin of one of
 * image_info.urls): a registry token must not reach another host. The
 * agent's own image_server_* basic auth applies otherwise, as the README
 * says; TLS settings and proxies as for the image.
 */
export function configDriveHttpOptions(info: Record<string, unknown>, o: DownloadOptions, url: string): HttpOptions {
  const imageScoped =
    (typeof info.image_request_authorization === 'string' && info.image_request_authorization !== '') ||
    info.image_server_auth_strategy === 'http_basic';
  if (!imageScoped || imageOrigins(info).includes(originOf(url))) return buildHttpOptions(info, o);
  const { image_request_authorization: _token, image_server_auth_strategy: _strategy, ...rest } = info;
  return buildHttpOptions(rest, o);
}

const originOf = (url: string): string | undefined => {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
};

const imageOrigins = (info: Record<string, unknown>): Array<string | undefined> =>
  (Array.isArray(info.urls) ? info.urls : [])
    .filter((u): u is string => typeof u === 'string')
    .map(originOf)
    .filter(Boolean);

/**
 * Download image_info.urls into sinks from `openSink` (called once per
 * attempt, so a retry rewrites from offset 0) and verify the checksum.
 */
export async function downloadImage(
  info: Record<string, unknown>,
  openSink: () => Promise<BlockWriter>,
  o: DownloadOptions,
): Promise<DownloadResult> {
  const id = String(info.id);
  const deadline = new AbortController();
  const timer = o.maxDurationS > 0 ? setTimeout(() => deadline.abort(), o.maxDurationS * 1000) : null;
  const signal = o.signal ? AbortSignal.any([o.signal, deadline.signal]) : deadline.signal;
  const http = { ...buildHttpOptions(info, o), signal };
  try {
    const expected = await resolveChecksum(selectChecksumSource(info, o.md5Enabled), info, o.md5Enabled, async (url) =>
      (await withConnectionRetries(id, url, o, signal, () => httpGetBuffer(url, http, 1 << 20))).toString('utf8'),
    );
    return await retry(
      async () => {
        const res = await downloadOnce(info, expected, openSink, http, o, signal);
        if (res.digest !== expected.value) throw new ImageChecksumError(id, res.url, expected.value, res.digest);
        return res;
      },
      {
        attempts: o.retries + 1,
        delayMs: o.retryIntervalS * 1000,
        signal,
        retryIf: (e) => !isFatalError(e),
        onRetry: (e, n) => o.log?.warn(`image ${id}: attempt ${n} failed (${describe(e)}); retrying in ${o.retryIntervalS} s`),
      },
    );
  } catch (e) {
    if (deadline.signal.aborted && !o.signal?.aborted) throw new ImageDownloadTimeoutError(id, o.maxDurationS);
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** One pass: first URL that answers 2xx, streamed through the hash into a fresh sink. */
async function downloadOnce(
  info: Record<string, unknown>,
  expected: ResolvedChecksum,
  openSink: () => Promise<BlockWriter>,
  http: HttpOptions,
  o: DownloadOptions,
  signal: AbortSignal,
): Promise<DownloadResult> {
  const id = String(info.id);
  const failures: string[] = [];
  let allFatal = true;
  let res: HttpResponse | RawResponse | null = null;
  let url = '';
  for (const u of info.urls as string[]) {
    try {
      res = await withConnectionRetries(id, u, o, signal, () => openResponse(id, u, http));
      url = u;
      break;
    } catch (e) {
      if (isFatalError(e) && (info.urls as string[]).length === 1) throw e;
      allFatal &&= isFatalError(e);
      failures.push(`${u}: ${describe(e)}`);
    }
  }
  // As IPA's ImageDownload: when a URL failed for a reason that may pass (no answer, a 5xx), the whole download
  // is tried again (image_download_connection_retries, the caller's loop); only when every URL refused (4xx) it is final.
  if (!res) {
    const why = `no URL worked: ${failures.join('; ')}`;
    throw allFatal ? new ImageDownloadFatalError(id, why) : new ImageDownloadError(id, why);
  }
  const raw = isRaw(res) ? res : null;
  const length = raw ? raw.length : Number(res.headers['content-length'] ?? NaN);
  let bytes = 0;
  const stall = setTimeout(() => res!.destroy(new Error(`no data received for ${o.downloadTimeoutS} s`)), o.downloadTimeoutS * 1000);
  let hasher: BlockHasher | null = null;
  let sink: BlockWriter | undefined;
  let digest: string;
  try {
    sink = await openSink();
    // Listen for the sink's 'error' from the start: a failure in its setup (the
    // O_DIRECT probe's first write) is emitted before anything else would
    // listen, and an 'error' without a listener kills the process. The
    // failure itself reaches us through ready(), pipeline() or `done`.
    const done = finished(sink);
    done.catch(() => {});
    // The sink hashes its blocks (in a worker for a big image) while it writes them.
    const min = o.hashWorkerMinBytes ?? HASH_WORKER_MIN_BYTES;
    hasher = (o.newHasher ?? startHasher)(expected.algo, !(length < min), (e) =>
      o.log?.warn(`image ${id}: no checksum worker (${describe(e)}); hashing on the main thread`),
    );
    sink.hashWith(hasher);
    const progress = (n: number): void => {
      bytes += n;
      stall.refresh();
    };
    if (raw) {
      // The socket reads straight into the writer's blocks (util/raw-http.ts).
      await sink.ready();
      await raw.readBody(sink, progress);
      sink.end();
      await done;
    } else {
      const body = res as HttpResponse;
      body.on('data', (chunk: Buffer) => progress(chunk.length));
      await pipeline([body, sink], { signal });
    }
    digest = await hasher.digest().catch((e: unknown) => {
      throw new HashError(e);
    });
  } catch (e) {
    res.destroy();
    // A retry reopens the target: no write of this attempt may still land in it then.
    if (sink && !sink.closed) {
      const s = sink;
      await new Promise((r) => {
        s.once('close', r);
        s.destroy();
      });
    }
    throw classifyStreamError(id, expected.algo, e);
  } finally {
    clearTimeout(stall);
    await hasher?.close();
  }
  if (Number.isFinite(length) && bytes !== length)
    throw new ImageDownloadError(id, `connection closed after ${bytes} of ${length} bytes from ${url}`);
  return { algo: expected.algo, digest, bytes, url };
}

const isRaw = (r: HttpResponse | RawResponse): r is RawResponse => typeof (r as RawResponse).readBody === 'function';

/**
 * The image's response: a plain-HTTP 2xx with a length through rawGet (its
 * body then goes straight into the writer's blocks), anything else (TLS,
 * a proxy, a redirect, a chunked body) through httpRequest.
 */
async function openResponse(id: string, url: string, http: HttpOptions): Promise<HttpResponse | RawResponse> {
  let res: HttpResponse | RawResponse | undefined;
  if (rawGetApplies(url, http)) {
    const raw = await rawGet(url, http);
    // Its error status is the answer; a redirect or a body without a length is for httpRequest.
    if (raw.readable || raw.statusCode < 200 || raw.statusCode >= 400) res = raw;
  }
  res ??= await httpRequest(url, http);
  const code = res.statusCode ?? 0;
  if (code >= 200 && code < 300) return res;
  if (isRaw(res)) res.destroy();
  else res.resume();
  // 4xx will not get better by asking again; 5xx might.
  if (code >= 400 && code < 500)
    throw new ImageDownloadFatalError(id, `GET ${url} answered HTTP ${code}; check the URL and the image server's access rules`);
  throw new ImageDownloadError(id, `GET ${url} answered HTTP ${code}`);
}

/** Retry `fn` on 5xx/connection errors `retries` times, retryIntervalS apart. */
async function withConnectionRetries<T>(
  id: string,
  url: string,
  o: DownloadOptions,
  signal: AbortSignal,
  fn: () => Promise<T>,
): Promise<T> {
  const isFinal = (e: unknown): boolean => {
    const status = (e as { statusCode?: number }).statusCode;
    return isFatalError(e) || (status !== undefined && status >= 400 && status < 500);
  };
  try {
    return await retry(fn, {
      attempts: o.retries + 1,
      delayMs: o.retryIntervalS * 1000,
      signal,
      retryIf: (e) => !isFinal(e),
      onRetry: (e, n) => o.log?.warn(`image ${id}: ${url}: ${describe(e)}; retry ${n}/${o.retries} in ${o.retryIntervalS} s`),
    });
  } catch (e) {
    if (isFinal(e)) throw isFatalError(e) ? e : new ImageDownloadFatalError(id, (e as Error).message);
    if (signal.aborted) throw e;
    throw new ImageDownloadError(id, `${url}: ${describe(e)} (after ${o.retries + 1} attempts)`);
  }
}

/** AgentErrors keep the specifics in `details`; plain errors in `message`. */
function describe(e: unknown): string {
  const d = (e as { details?: unknown }).details;
  return typeof d === 'string' && d ? d.replace(/^Download of image .*? failed: /, '') : errMsg(e);
}

/** Target errors are final (ENOSPC especially); network errors may be retried. */
function classifyStreamError(id: string, algo: string, e: unknown): Error {
  const hashErr =
    e instanceof HashError ? e : (e as { cause?: unknown }).cause instanceof HashError ? (e as { cause: HashError }).cause : null;
  if (hashErr) return new ImageDownloadError(id, `computing the ${algo} checksum failed: ${hashErr.message}`);
  const sinkErr =
    e instanceof SinkWriteError
      ? e
      : (e as { cause?: unknown }).cause instanceof SinkWriteError
        ? (e as { cause: SinkWriteError }).cause
        : null;
  if (sinkErr) {
    if (sinkErr.code === 'ENOSPC') return new ImageDownloadOutOfSpaceError(id, sinkErr.target);
    return Object.assign(new ImageWriteError(sinkErr.target, sinkErr.message), { fatal: true });
  }
  if ((e as Error).name === 'AbortError') return e as Error;
  return new ImageDownloadError(id, (e as Error).message);
}
