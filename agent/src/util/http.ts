/**
 * The agent's one HTTP client: Ironic API calls, image and config-drive
 * downloads, the inspection POST and the advertise probe all go through
 * httpRequest(), except a plain-HTTP image without a proxy, which
 * raw-http.ts reads from the socket straight into the write blocks (it
 * leaves redirects and chunked bodies to httpRequest). TLS (a CA bundle, or
 * no verification with ipa-insecure), proxies (image_info.proxies/no_proxy; HTTP CONNECT for https URLs; an https:// proxy reached over TLS, verified as the target), basic auth
 * from URL user info, redirects, the answer timeout and the retry loop live
 * here and nowhere else.
 *
 * On node:http/https, not fetch or undici: Node 20's fetch cannot take a
 * per-request CA, skip verification or use a proxy without undici's
 * dispatcher API (not a dependency), and loading undici costs idle RSS the
 * agent's target (~59 MiB) has no room for: the bundle on the ramdisk's
 * Node 22 idles at 59 MiB, and at 63 MiB once Node's own bundled undici is
 * loaded (one fetch at start; the idle-RSS part of bench/agent.ts, 3 runs
 * each); the npm package would add its own copy on top. bench/agent-image.ts
 * measured no throughput gain from fetch either (both ~580 MB/s
 * read+sha256). Every request opens a fresh connection (agent: false):
 * heartbeats are minutes apart, and a pooled socket would keep a stopped
 * agent's event loop alive.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_NAME } from '../version.js';
import { http, https, tls } from './node-builtins.js';
import { getClientCertificate, tlsPolicyOptions } from './tls-policy.js';

export interface HttpOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** PEM CA bundle contents (not a path; see readCaFile). */
  ca?: string | Buffer;
  /** ipa-insecure: do not verify the server certificate. */
  insecure?: boolean;
  /** Proxy URL per scheme of the target URL (image_info.proxies). */
  proxies?: { http?: string | null; https?: string | null };
  /** Comma-separated hosts/domains not to proxy ("*" = all; image_info.no_proxy). */
  noProxy?: string | null;
  /** No answer (connect + response headers) within this many ms → error. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Follow up to this many 301/302/303/307/308 redirects (GET only). Default 0. */
  maxRedirects?: number;
}

/** A response whose status the caller checks; the body is not consumed yet. */
export type HttpResponse = IncomingMessage;

/** A buffered answer (small JSON documents, checksum files). */
export interface HttpText {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * The request got no HTTP answer (refused, reset, timeout, TLS failure).
 * `connected` tells whether the TCP connection was made first, `timedOut`
 * whether the peer stayed silent (rather than refusing or dropping it).
 */
export class NoAnswerError extends Error {
  /** No answer within timeoutMs (requests' ReadTimeout once connected), as opposed to a refused or dropped connection. */
  readonly timedOut: boolean;
  constructor(
    message: string,
    readonly connected: boolean,
    opts: { cause?: unknown; timedOut?: boolean } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'NoAnswerError';
    this.timedOut = opts.timedOut ?? false;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** True when `url`'s host (with an optional port) is excluded from proxying by `noProxy`. */
export function isNoProxy(url: URL, noProxy: string | null | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const [name, port] = entry.includes(']') || entry.split(':').length > 2 ? [entry.replace(/^\[|\]$/g, ''), undefined] : entry.split(':');
    if (port && port !== (url.port || (url.protocol === 'https:' ? '443' : '80'))) continue;
    const bare = name!.replace(/^\*?\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/**
 * The proxies of the environment, as Python's requests (IPA's sessions to
 * Ironic and the inspector) reads them: `https_proxy`/`HTTPS_PROXY`,
 * `http_proxy`/`HTTP_PROXY`, `all_proxy`/`ALL_PROXY` for both, and
 * `no_proxy`/`NO_PROXY`; the lower-case name wins, as in urllib.
 */
export function envProxies(env: NodeJS.ProcessEnv = process.env): Pick<HttpOptions, 'proxies' | 'noProxy'> {
  const get = (name: string): string | undefined => env[name] || env[name.toUpperCase()] || undefined;
  const all = get('all_proxy');
  const http = get('http_proxy') ?? all;
  const https = get('https_proxy') ?? all;
  if (!http && !https) return {};
  return { proxies: { http: http ?? null, https: https ?? null }, noProxy: get('no_proxy') ?? null };
}

const caCache = new Map<string, Buffer>();
/** The CA bundle at `path` (ipa cafile), read once: it may be copied from virtual media after start, so not before first use. */
export function readCaFile(path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  let ca = caCache.get(path);
  if (!ca) caCache.set(path, (ca = readFileSync(path)));
  return ca;
}

/** The client certificate (tls-policy.ts setClientCertificate) as TLS options, its files read on first use as cafile's. */
function clientCertOptions(): { cert?: Buffer; key?: Buffer } {
  const c = getClientCertificate();
  return c ? { cert: readCaFile(c.certfile), key: readCaFile(c.keyfile) } : {};
}

/**
 * Sends one request, following redirects if asked; resolves once the
 * response headers arrive (any status). A redirect to another host drops
 * the Authorization header, as Python's requests (IPA) and curl do: an
 * image server or registry that redirects to a CDN or an S3 presigned URL
 * must not hand its credentials on (S3 also refuses a request carrying a
 * second authentication).
 */
export async function httpRequest(url: string, o: HttpOptions = {}): Promise<HttpResponse> {
  let target = new URL(url);
  let opts = o;
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(target, opts);
    const loc = res.headers.location;
    if ((o.method ?? 'GET') === 'GET' && res.statusCode && REDIRECTS.has(res.statusCode) && loc && hop < (o.maxRedirects ?? 0)) {
      res.resume();
      const next = new URL(loc, target);
      if (opts.headers && !keepsAuthorization(target, next)) {
        opts = { ...opts, headers: Object.fromEntries(Object.entries(opts.headers).filter(([k]) => k.toLowerCase() !== 'authorization')) };
      }
      target = next;
      continue;
    }
    return res;
  }
}

/** requests' should_strip_auth, inverted: the same host, or http → https on the default ports. */
export function keepsAuthorization(from: URL, to: URL): boolean {
  if (from.hostname !== to.hostname) return false;
  if (from.protocol === 'http:' && to.protocol === 'https:' && ['', '80'].includes(from.port) && ['', '443'].includes(to.port)) return true;
  return from.protocol === to.protocol && from.port === to.port;
}

/** httpRequest() with the body buffered (at most `limit` bytes, else an error); the timeout also covers the body. */
export async function httpRequestText(url: string, o: HttpOptions = {}, limit = 8 << 20): Promise<HttpText> {
  const res = await httpRequest(url, o);
  if (o.timeoutMs) res.setTimeout(o.timeoutMs, () => res.destroy(new Error(`no data from ${url} within ${(o.timeoutMs ?? 0) / 1000} s`)));
  const body = await readBody(res, limit, `${o.method ?? 'GET'} ${url}`);
  return { status: res.statusCode ?? 0, headers: res.headers, text: body.toString('utf8') };
}

/**
 * GET a body as bytes, failing (with `statusCode` on the error) on any non-2xx answer. The timeout also covers
 * the body (each wait for data, as requests' read timeout in IPA): a server that stalls after its headers fails
 * the fetch instead of holding it (and the command waiting on it) for ever.
 */
export async function httpGetBuffer(url: string, o: HttpOptions = {}, limit = 128 << 20): Promise<Buffer> {
  const res = await httpRequest(url, { ...o, method: 'GET' });
  if (!res.statusCode || res.statusCode < 200 || res.statusCode >= 300) {
    res.resume();
    throw Object.assign(new Error(`GET ${url} answered HTTP ${res.statusCode}`), { statusCode: res.statusCode });
  }
  if (o.timeoutMs) res.setTimeout(o.timeoutMs, () => res.destroy(new Error(`no data from ${url} within ${(o.timeoutMs ?? 0) / 1000} s`)));
  return readBody(res, limit, `GET ${url}`);
}

/** The whole body of `res`, at most `limit` bytes (else the response is destroyed and `what` named in the error). */
async function readBody(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`${what}: body larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export interface RetryOptions {
  /** Attempts in all (>= 1). */
  attempts: number;
  /** Pause between attempts. */
  delayMs: number;
  /** Whether this error is worth another attempt (default: every error). */
  retryIf?: (e: unknown) => boolean;
  /** Called before each pause with the attempt (1-based) that failed. */
  onRetry?: (e: unknown, attempt: number) => void;
  signal?: AbortSignal;
  /** The pause (tests pass a fake clock). */
  sleep?: (ms: number) => Promise<void>;
}

/** Run `fn` until it succeeds, a non-retryable error, the signal aborts or the attempts run out (the last error is thrown). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= o.attempts || o.signal?.aborted || (o.retryIf && !o.retryIf(e))) throw e;
      o.onRetry?.(e, attempt);
      await (o.sleep ? o.sleep(o.delayMs) : sleep(o.delayMs, undefined, { signal: o.signal }));
    }
  }
}

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${decodeURIComponent(user)}:${decodeURIComponent(password)}`).toString('base64')}`;
}

function requestOnce(target: URL, o: HttpOptions): Promise<HttpResponse> {
  const isHttps = target.protocol === 'https:';
  if (!isHttps && target.protocol !== 'http:') {
    return Promise.reject(new Error(`unsupported URL scheme ${target.protocol} in ${target.href}; only http and https are supported`));
  }
  const proxyUrl = isNoProxy(target, o.noProxy) ? null : (isHttps ? o.proxies?.https : o.proxies?.http) || null;
  const proxy = proxyUrl ? new URL(proxyUrl) : null;
  const hostname = target.hostname.replace(/^\[|\]$/g, '');
  const headers: Record<string, string> = { 'user-agent': AGENT_NAME, ...(o.headers ?? {}) };
  const hasHeader = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (target.username && !hasHeader('authorization')) headers.authorization = basicAuth(target.username, target.password);
  const body = typeof o.body === 'string' ? Buffer.from(o.body) : o.body;
  if (body && !hasHeader('content-length')) headers['content-length'] = String(body.length);
  const tlsOpts = tlsOptionsFor(target, o);
  return new Promise<HttpResponse>((resolve, reject) => {
    let connected = false;
    let timedOut = false;
    const fail = (e: Error): void => {
      // An abort stays an AbortError; a proxy's refusal keeps its statusCode (a 4xx is final for downloads).
      reject(
        e.name === 'AbortError' || e instanceof NoAnswerError || 'statusCode' in e
          ? e
          : new NoAnswerError(e.message, connected, { cause: e, timedOut }),
      );
    };
    const start = (createConnection?: () => Duplex): void => {
      // A plain-HTTP URL goes to its proxy as an absolute-URI request: over TLS when the proxy is https:// (as urllib3 does).
      const forwardProxy = proxy && !isHttps ? proxy : null;
      const overTls = forwardProxy ? forwardProxy.protocol === 'https:' : isHttps;
      const req = (overTls ? https() : http).request({
        protocol: overTls ? 'https:' : 'http:',
        host: forwardProxy ? forwardProxy.hostname : hostname,
        port: forwardProxy ? forwardProxy.port || (overTls ? 443 : 80) : target.port || (isHttps ? 443 : 80),
        // Through an HTTP proxy the request line carries the absolute URI (without user info).
        path: forwardProxy ? target.href.replace(/^(https?:\/\/)[^@/]*@/, '$1') : target.pathname + target.search,
        method: o.method ?? 'GET',
        headers: { ...headers, host: target.host, ...(forwardProxy ? proxyAuth(forwardProxy) : {}) },
        agent: false,
        signal: o.signal,
        timeout: o.timeoutMs,
        ...(forwardProxy ? (overTls ? tlsOptionsFor(forwardProxy, o, 'proxy') : {}) : isHttps ? tlsOpts : {}),
        ...(createConnection ? { createConnection } : {}),
      });
      req.on('socket', (s) => {
        if (createConnection) connected = true;
        else
          s.once('connect', () => {
            connected = true;
          });
      });
      req.on('timeout', () => {
        timedOut = true;
        req.destroy(new Error(`no answer from ${target.host} within ${(o.timeoutMs ?? 0) / 1000} s`));
      });
      req.on('error', fail);
      req.on('response', (res) => {
        req.setTimeout(0);
        resolve(res);
      });
      req.end(body);
    };
    if (proxy && isHttps) {
      openConnectTunnel(proxy, target, o).then((sock) => start(() => tls().connect({ socket: sock, ...tlsOpts })), fail);
    } else start();
  });
}

function proxyAuth(proxy: URL): Record<string, string> {
  return proxy.username ? { 'proxy-authorization': basicAuth(proxy.username, proxy.password) } : {};
}

/**
 * TLS to `server` (the target, or an https:// proxy, verified as the target is: the same CA, the same
 * ipa-insecure, as urllib3 does). SNI only for names (RFC 6066 forbids IP addresses; Node warns, DEP0123);
 * `host` keeps the identity check on the server through a tunnel.
 */
function tlsOptionsFor(server: URL, o: HttpOptions, role: 'target' | 'proxy' = 'target'): ConnectionOptions {
  const name = server.hostname.replace(/^\[|\]$/g, '');
  const isIpAddress = name.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(name);
  return {
    ...tlsPolicyOptions(),
    rejectUnauthorized: !o.insecure,
    ...(o.ca ? { ca: o.ca } : {}),
    // The client certificate is for the server the request is for, not a proxy on the way (as urllib3's cert).
    ...(role === 'target' ? clientCertOptions() : {}),
    host: name,
    servername: isIpAddress ? '' : name,
  };
}

/** HTTP CONNECT through the proxy; resolves with the raw tunnel socket. */
function openConnectTunnel(proxy: URL, target: URL, o: HttpOptions): Promise<Duplex> {
  const authority = `${target.hostname}:${target.port || 443}`;
  return new Promise((resolve, reject) => {
    const req = (proxy.protocol === 'https:' ? https() : http).request({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuth(proxy) },
      agent: false,
      ...(proxy.protocol === 'https:' ? tlsOptionsFor(proxy, o, 'proxy') : {}),
      signal: o.signal,
      timeout: o.timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`proxy ${proxy.host} did not answer CONNECT within ${(o.timeoutMs ?? 0) / 1000} s`)));
    req.on('error', reject);
    req.on('connect', (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(
          Object.assign(new Error(`proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${res.statusCode}`), {
            statusCode: res.statusCode,
          }),
        );
      }
    });
    req.end();
  });
}
