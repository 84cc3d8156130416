/**
 * The inspection POST (IPA master's inspector.call_inspector). One round
 * tries the URLs in order, moving on when one gives no answer; a round is
 * repeated, up to 5 in all, when its last URL gave no answer (refused,
 * dropped, TLS failure: requests' ConnectionError) or the answer was 409 or
 * 5xx (Ironic answers 409 while the conductor holds the node's lock). The
 * waits between rounds are tenacity's wait_exponential(1.5, 5, 30) as in
 * IPA: 5, 5, 6 and 12 s. The boot-time inspection asks for rounds without
 * end (attempts: Infinity, 30 s apart from the sixth): after its five, IPA
 * raises an error its agent does not catch, the process exits and systemd
 * starts it again, inspection first, until the POST gets through. A peer that stays silent past the timeout is not
 * asked again (requests' ReadTimeout is no ConnectionError): it may have
 * taken the data. Any other answer ends the rounds; >= 400 becomes an
 * InspectionError. The transport (TLS with cafile/insecure, timeouts) is
 * util/http.ts.
 */
import { InspectionError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { NoAnswerError, envProxies, httpRequestText, readCaFile } from '../util/http.js';

export interface PostOptions {
  timeoutMs?: number;
  /** Rounds over the URLs (IPA's _RETRY_ATTEMPTS, 5); Infinity for no end. */
  attempts?: number;
  /** Told when a round failed and another follows in `waitMs`. */
  onRoundFailed?: (round: number, error: Error, waitMs: number) => void;
  /** Injectable so tests do not wait 28 s. */
  sleep?: (ms: number) => Promise<void>;
  insecure?: boolean;
  cafile?: string;
  requestId?: string;
  /** Told when a URL gave no answer and the next is tried. */
  onUrlFailed?: (url: string, error: Error) => void;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** tenacity's wait_exponential(multiplier=1.5, min=5, max=30) after failed round n (1-based), in ms. */
export const roundWaitMs = (n: number): number => Math.min(30, Math.max(5, 1.5 * 2 ** (n - 1))) * 1000;

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
    ...envProxies(),
  });
  return { status: res.status, body: res.text };
}

/** An answer worth another round: the node is locked (409) or the service failed (5xx). */
class RetryableAnswer extends Error {
  constructor(
    readonly url: string,
    readonly answer: HttpAnswer,
  ) {
    super(`${url} answered ${answer.status}`);
  }
}
const isRetryableStatus = (status: number): boolean => status === 409 || status >= 500;
/** A URL that gave no answer, with every URL's reason this round. */
class RoundFailed extends Error {
  constructor(
    readonly last: Error,
    readonly reasons: string[],
  ) {
    super(reasons.join('; '));
  }
}
/** The peer took the request and then said nothing (requests' ReadTimeout): it may have the data. */
const wentSilent = (e: unknown): boolean => e instanceof NoAnswerError && e.connected && e.timedOut;
const worthAnotherRound = (e: unknown): boolean =>
  e instanceof RetryableAnswer || (e instanceof RoundFailed && e.last instanceof NoAnswerError && !wentSilent(e.last));

/**
 * One round: the first URL that answers (409/5xx throw RetryableAnswer); RoundFailed when none did. A URL that
 * went silent is added to `silent` and not asked again in later rounds (it may have the data).
 */
async function postRound(
  urls: string[],
  payload: unknown,
  o: PostOptions,
  silent: Set<string>,
): Promise<{ url: string; answer: HttpAnswer }> {
  const reasons: string[] = [];
  let last: Error = new Error('no URL');
  const asked = urls.filter((u) => !silent.has(u));
  for (const [i, url] of asked.entries()) {
    let answer: HttpAnswer;
    try {
      answer = await postJson(url, payload, o);
    } catch (e) {
      last = e as Error;
      if (wentSilent(e)) silent.add(url);
      reasons.push(`${url}: ${last.message}`);
      if (i < asked.length - 1) o.onUrlFailed?.(url, last);
      continue;
    }
    if (isRetryableStatus(answer.status)) throw new RetryableAnswer(url, answer);
    return { url, answer };
  }
  throw new RoundFailed(last, reasons);
}

/**
 * Posts `payload` to the first of `urls` that answers, in rounds as above;
 * returns the parsed body of a success. Throws InspectionError when no URL
 * answered or the answer was >= 400.
 */
export async function postInspectionData(urls: string[], payload: unknown, o: PostOptions = {}): Promise<Record<string, unknown>> {
  const rounds = o.attempts ?? 5;
  const pause = o.sleep ?? ((ms: number) => sleep(ms));
  let url: string;
  let answer: HttpAnswer;
  const silent = new Set<string>();
  for (let round = 1; ; round++) {
    try {
      ({ url, answer } = await postRound(urls, payload, o, silent));
      break;
    } catch (e) {
      if (round < rounds && worthAnotherRound(e)) {
        o.onRoundFailed?.(round, e as Error, roundWaitMs(round));
        await pause(roundWaitMs(round));
        continue;
      }
      if (e instanceof RetryableAnswer) {
        ({ url, answer } = e);
        break;
      }
      if (e instanceof RoundFailed) {
        throw new InspectionError(
          `could not post the inspection data: ${e.message}; check ipa-inspection-callback-url and that the inspector is reachable`,
        );
      }
      throw e;
    }
  }
  if (answer.status >= 400) {
    throw new InspectionError(
      `stopping inspection, as inspector returned an error: ${url} answered ${answer.status}: ${answer.body.slice(0, 500)}`,
    );
  }
  try {
    return answer.body ? (JSON.parse(answer.body) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
