/**
 * One HTTP(S) request to Ironic, on node:http/https rather than fetch:
 * fetch in Node 20 cannot take a custom CA (ipa cafile) or skip
 * verification (ipa-insecure) without importing undici, which is not a
 * dependency. Bodies are small JSON documents, so they are buffered.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import { http, https } from '../util/node-builtins.js';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** PEM bundle to verify the server with (ipa cafile). */
  ca?: string;
  /** ipa-insecure: do not verify the server certificate. */
  insecure?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const MAX_BODY = 8 << 20;

/**
 * Sends the request and buffers the answer. Rejects only when there is no
 * HTTP answer (connection refused, reset, timeout, TLS error, abort); every
 * status code resolves, because callers decide what a status means.
 */
export function sendRequest(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(req.url);
    const isHttps = url.protocol === 'https:';
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const headers: Record<string, string> = { ...req.headers };
    if (body) headers['Content-Length'] = String(body.length);
    const opts: RequestOptions = {
      method: req.method,
      headers,
      signal: req.signal,
      // A fresh connection per request: heartbeats are minutes apart and a
      // pooled socket would keep a stopped agent's event loop alive.
      agent: false,
    };
    if (isHttps) {
      if (req.ca !== undefined) opts.ca = req.ca;
      if (req.insecure) opts.rejectUnauthorized = false;
    }
    const r = (isHttps ? https : http).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    r.setTimeout(req.timeoutMs, () => {
      r.destroy(new Error(`no answer within ${req.timeoutMs / 1000} s`));
    });
    r.on('error', reject);
    r.end(body);
  });
}

/**
 * Ironic wraps errors as {"error_message": "<JSON string>"} whose inner
 * document holds faultstring/faultcode (IPA _error_from_response). Returns
 * the most useful human text, e.g. "Error 400: Detected change in ...".
 */
export function describeIronicError(res: Pick<HttpResponse, 'status' | 'text'>): string {
  let text = res.text.trim();
  try {
    let body: unknown = JSON.parse(res.text);
    if (isObject(body) && 'error_message' in body) body = body.error_message;
    if (typeof body === 'string') {
      try { body = JSON.parse(body); } catch { text = body as string; }
    }
    if (isObject(body)) {
      const pick = body.faultstring ?? body.title ?? body.description;
      if (typeof pick === 'string' && pick) text = pick;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the raw text.
  }
  if (text.length > 2000) text = `${text.slice(0, 2000)}…`;
  return `Error ${res.status}: ${text || '(empty body)'}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An error's message plus AgentError details, for log lines. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const details = (e as { details?: unknown }).details;
    return typeof details === 'string' && details ? `${e.message}: ${details}` : e.message;
  }
  return String(e);
}
