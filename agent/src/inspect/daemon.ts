/**
 * The loop of `ironic-collect-introspection-data --introspection_daemon`
 * (IPA inspect.IronicInspection): after the first run, sleep interval ×
 * U(0.7, 1.2) — cumulative, the jittered value is kept — then inspect again.
 * A failure multiplies the interval by 2.7, capped at 4 × post_interval; the
 * first success after a failure brings it back under post_interval.
 */
export interface DaemonOptions {
  postInterval: number; // seconds
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  onError?: (e: unknown, nextIntervalS: number) => void;
}

export const MIN_JITTER = 0.7;
export const MAX_JITTER = 1.2;
export const BACKOFF_FACTOR = 2.7;

const abortableSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export async function runDaemonLoop(inspectOnce: () => Promise<unknown>, o: DaemonOptions): Promise<void> {
  const sleep = o.sleep ?? abortableSleep;
  const random = o.random ?? Math.random;
  const maxDelay = 4 * o.postInterval;
  let interval = o.postInterval;
  let failed = false;
  while (!o.signal?.aborted) {
    interval *= MIN_JITTER + (MAX_JITTER - MIN_JITTER) * random();
    await sleep(interval * 1000, o.signal);
    if (o.signal?.aborted) break;
    try {
      await inspectOnce();
      if (failed) {
        interval = Math.min(interval, o.postInterval);
        failed = false;
      }
    } catch (e) {
      failed = true;
      interval = Math.min(interval * BACKOFF_FACTOR, maxDelay);
      o.onError?.(e, interval);
    }
  }
}
