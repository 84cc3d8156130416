/**
 * The inspection POST (inspector.call_inspector), with the Zed agent's retry
 * rule: connection errors only, 5 attempts, 5 s apart. Any HTTP answer ends
 * the retries; >= 400 becomes an InspectionError after the last URL.
 * node:http(s) rather than fetch so that cafile/insecure apply.
 */
import { readFileSync } from 'node:fs';
import { InspectionError } from '../errors.js';
import { http, https } from '../util/node-builtins.js';

export interface PostOptions {
  timeoutMs?: number;
  attempts?: number;
  intervalMs?: number;
  /** Injectable so tests do not wait 20 s. */
  sleep?: (ms: number) => Promise<void>;
  insecure?: boolean;
  cafile?: string;
  requestId?: string;
}

export interface HttpAnswer { status: number; body: string }

export class ConnectionFailure extends Error {}

export const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function postJson(url: string, payload: unknown, o: PostOptions = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  const body = Buffer.from(JSON.stringify(payload));
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': body.length };
  if (o.requestId) headers['X-OpenStack-Request-ID'] = o.requestId;
  const mod = u.protocol === 'https:' ? https : http;
  const tls = u.protocol === 'https:' ? { rejectUnauthorized: !o.insecure, ca: o.cafile ? readFileSync(o.cafile) : undefined } : {};
  return new Promise((resolve, reject) => {
    let connected = false;
    const req = mod.request(u, { method: 'POST', headers, timeout: o.timeoutMs ?? 30_000, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('socket', (s) => s.on('connect', () => { connected = true; }));
    req.on('timeout', () => req.destroy(new Error(`timed out after ${o.timeoutMs ?? 30_000} ms`)));
    // Before the TCP connection exists it is a connection error (retried); after, it is not.
    req.on('error', (e) => reject(connected ? e : new ConnectionFailure(`cannot connect to ${url}: ${e.message}`, { cause: e })));
    req.end(body);
  });
}

/** POSTs to one URL with retries on connection failures only. */
export async function postWithRetries(url: string, payload: unknown, o: PostOptions = {}): Promise<HttpAnswer> {
  const attempts = o.attempts ?? 5;
  const sleep = o.sleep ?? sleepMs;
  for (let i = 1; ; i++) {
    try {
      return await postJson(url, payload, o);
    } catch (e) {
      if (!(e instanceof ConnectionFailure) || i >= attempts) throw e;
      await sleep(o.intervalMs ?? 5000);
    }
  }
}

/**
 * Posts to each URL in turn until one answers; returns the parsed body of a
 * success. Throws InspectionError when none answered or the answer was >= 400.
 */
export async function postInspectionData(urls: string[], payload: unknown, o: PostOptions = {}): Promise<Record<string, unknown>> {
  const errors: string[] = [];
  for (const url of urls) {
    let ans: HttpAnswer;
    try { ans = await postWithRetries(url, payload, o); } catch (e) { errors.push((e as Error).message); continue; }
    if (ans.status >= 400) {
      throw new InspectionError(`stopping inspection, as inspector returned an error: ${url} answered ${ans.status}: ${ans.body.slice(0, 500)}`);
    }
    try { return ans.body ? (JSON.parse(ans.body) as Record<string, unknown>) : {}; } catch { return {}; }
  }
  throw new InspectionError(`could not post the inspection data to ${urls.join(', ') || '(no URL)'}: ${errors.join('; ')}; check ipa-inspection-callback-url and that the inspector is reachable`);
}
