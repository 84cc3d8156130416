/**
 * The inspection POST (inspector.call_inspector): 5 attempts, 5 s apart,
 * when the connection could not be made (the Zed agent's rule) or the answer
 * is 409 or 5xx (IPA master's: Ironic answers 409 while the conductor holds
 * the node's lock). Any other answer ends the retries; >= 400 becomes an
 * InspectionError. The transport (TLS with cafile/insecure, timeouts) is
 * util/http.ts.
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

/** An answer worth another attempt: the node is locked (409) or the service failed (5xx). */
class RetryableAnswer extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`answered ${answer.status}`);
  }
}
const isRetryableStatus = (status: number): boolean => status === 409 || status >= 500;

/**
 * POSTs to one URL, again when the connection could not be made (before it
 * exists, nothing was received) or the answer was 409/5xx; after the last
 * attempt that answer is returned for the caller to report.
 */
export async function postWithRetries(url: string, payload: unknown, o: PostOptions = {}): Promise<HttpAnswer> {
  try {
    return await retry(
      async () => {
        const ans = await postJson(url, payload, o);
        if (isRetryableStatus(ans.status)) throw new RetryableAnswer(ans);
        return ans;
      },
      {
        attempts: o.attempts ?? 5,
        delayMs: o.intervalMs ?? 5000,
        sleep: o.sleep,
        retryIf: (e) => e instanceof RetryableAnswer || (e instanceof NoAnswerError && !e.connected),
      },
    );
  } catch (e) {
    if (e instanceof RetryableAnswer) return e.answer;
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
