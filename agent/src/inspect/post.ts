/**
 * The inspection POST (inspector.call_inspector), with the Zed agent's retry
 * rule: connection errors only, 5 attempts, 5 s apart. Any HTTP answer ends
 * the retries; >= 400 becomes an InspectionError after the last URL. The
 * transport (TLS with cafile/insecure, timeouts, retries) is util/http.ts.
 */
import { InspectionError } from '../errors.js';
import { NoAnswerError, httpRequestText, readCaFile, retry } from '../util/http.js';

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

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One POST of `payload` as JSON; rejects only when there is no HTTP answer. */
export async function postJson(url: string, payload: unknown, o: PostOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (o.requestId) headers['x-openstack-request-id'] = o.requestId;
  const res = await httpRequestText(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(payload),
    timeoutMs: o.timeoutMs ?? 30_000,
    ca: url.startsWith('https:') ? readCaFile(o.cafile) : undefined,
    insecure: o.insecure,
  });
  return { status: res.status, body: res.text };
}

/** POSTs to one URL, retrying only when the connection could not be made (before it exists, nothing was received). */
export async function postWithRetries(url: string, payload: unknown, o: PostOptions = {}): Promise<HttpAnswer> {
  try {
    return await retry(() => postJson(url, payload, o), {
      attempts: o.attempts ?? 5,
      delayMs: o.intervalMs ?? 5000,
      sleep: o.sleep,
      retryIf: (e) => e instanceof NoAnswerError && !e.connected,
    });
  } catch (e) {
    if (e instanceof NoAnswerError && !e.connected) throw new Error(`cannot connect to ${url}: ${e.message}`, { cause: e });
    throw e;
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
    try {
      ans = await postWithRetries(url, payload, o);
    } catch (e) {
      errors.push((e as Error).message);
      continue;
    }
    if (ans.status >= 400) {
      throw new InspectionError(
        `stopping inspection, as inspector returned an error: ${url} answered ${ans.status}: ${ans.body.slice(0, 500)}`,
      );
    }
    try {
      return ans.body ? (JSON.parse(ans.body) as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
  throw new InspectionError(
    `could not post the inspection data to ${urls.join(', ') || '(no URL)'}: ${errors.join('; ')}; check ipa-inspection-callback-url and that the inspector is reachable`,
  );
}
