/**
 * A streaming HTTP(S) GET on node:http/https with IPA's proxy, auth and TLS
 * rules. Not fetch(): Node 20's fetch cannot use a proxy or per-request CA
 * without undici's dispatcher API, and bench/agent-image.ts measured no
 * throughput gain from it (node:http and fetch both ~580 MB/s read+sha256).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { http, https, tls } from '../util/node-builtins.js';

export interface HttpGetOptions {
  headers?: Record<string, string>;
  /** image_info.proxies: proxy URL per scheme of the target URL. */
  proxies?: { http?: string | null; https?: string | null };
  /** image_info.no_proxy: comma-separated hosts/domains ("*" = all). */
  noProxy?: string | null;
  insecure?: boolean;
  /** PEM CA bundle contents (not a path). */
  ca?: string | Buffer;
  /** Connect + response-header timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A response whose status the caller must check; body not yet consumed. */
export type HttpResponse = IncomingMessage;

const MAX_REDIRECTS = 5;

/** True when `host` (with optional port) is excluded from proxying by no_proxy. */
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

/** GET `url`, following redirects; resolves once response headers arrive. */
export async function httpGet(url: string, o: HttpGetOptions = {}): Promise<HttpResponse> {
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(target, o);
    const loc = res.headers.location;
    if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && loc && hop < MAX_REDIRECTS) {
      res.resume();
      target = new URL(loc, target);
      continue;
    }
    return res;
  }
}

function requestOnce(target: URL, o: HttpGetOptions): Promise<HttpResponse> {
  const isHttps = target.protocol === 'https:';
  if (!isHttps && target.protocol !== 'http:') return Promise.reject(new Error(`unsupported URL scheme ${target.protocol} in ${target.href}; only http and https are supported`));
  const proxyUrl = isNoProxy(target, o.noProxy) ? null : (isHttps ? o.proxies?.https : o.proxies?.http) || null;
  const proxy = proxyUrl ? new URL(proxyUrl) : null;
  const headers: Record<string, string> = { 'user-agent': 'ramforge-agent', ...(o.headers ?? {}) };
  if (target.username && !headers.authorization) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const fail = (e: Error): void => reject(e);
    const tlsOpts = { rejectUnauthorized: !o.insecure, ...(o.ca ? { ca: o.ca } : {}), servername: target.hostname.replace(/^\[|\]$/g, '') };
    const start = (createConnection?: () => Duplex): void => {
      const mod = isHttps ? https : http;
      const viaHttpProxy = proxy && !isHttps;
      const req = mod.request({
        protocol: viaHttpProxy ? 'http:' : target.protocol,
        host: viaHttpProxy ? proxy.hostname : target.hostname.replace(/^\[|\]$/g, ''),
        port: viaHttpProxy ? proxy.port || 80 : target.port || (isHttps ? 443 : 80),
        // Through an HTTP proxy the request line carries the absolute URI.
        path: viaHttpProxy ? target.href.replace(/^(https?:\/\/)[^@/]*@/, '$1') : target.pathname + target.search,
        method: 'GET',
        headers: { ...headers, host: target.host, ...(viaHttpProxy ? proxyAuth(proxy) : {}) },
        agent: false,
        signal: o.signal,
        timeout: o.timeoutMs,
        ...(isHttps ? tlsOpts : {}),
        ...(createConnection ? { createConnection } : {}),
      });
      req.on('timeout', () => req.destroy(new Error(`no response from ${target.host} within ${o.timeoutMs} ms`)));
      req.on('error', fail);
      req.on('response', (res) => { req.setTimeout(0); resolve(res); });
      req.end();
    };
    if (proxy && isHttps) {
      openConnectTunnel(proxy, target, o).then((sock) => start(() => tls.connect({ socket: sock, ...tlsOpts })), fail);
    } else start();
  });
}

function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  return { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` };
}

/** HTTP CONNECT through the proxy; resolves with the raw tunnel socket. */
function openConnectTunnel(proxy: URL, target: URL, o: HttpGetOptions): Promise<Duplex> {
  const authority = `${target.hostname}:${target.port || 443}`;
  return new Promise((resolve, reject) => {
    const mod = proxy.protocol === 'https:' ? https : http;
    const req = mod.request({
      host: proxy.hostname, port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT', path: authority, headers: { host: authority, ...proxyAuth(proxy) },
      agent: false, signal: o.signal, timeout: o.timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`proxy ${proxy.host} did not answer CONNECT within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.on('connect', (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) resolve(socket);
      else { socket.destroy(); reject(Object.assign(new Error(`proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${res.statusCode}`), { statusCode: res.statusCode })); }
    });
    req.end();
  });
}

/** GET a small text body (checksum files, configdrive URLs), failing on non-2xx. */
export async function httpGetBuffer(url: string, o: HttpGetOptions = {}, limit = 128 << 20): Promise<Buffer> {
  const res = await httpGet(url, o);
  if (!res.statusCode || res.statusCode >= 300) {
    res.resume();
    throw Object.assign(new Error(`GET ${url} answered HTTP ${res.statusCode}`), { statusCode: res.statusCode });
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) { res.destroy(); throw new Error(`GET ${url}: body larger than ${limit} bytes`); }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
