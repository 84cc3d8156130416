/**
 * The heartbeat loop (IPA IronicPythonAgentHeartbeater, ipa-protocol.md
 * §4.4). Heartbeats are what drive the conductor forward, so the loop never
 * gives up: after a 202 the next one is due in heartbeat_timeout × U(0.3,
 * 0.6); after any failure in 5 × U(1, 2) s. A forced heartbeat
 * (state.requestHeartbeat(), called when an async command ends) goes out
 * as soon as 5 s have passed since the previous one.
 */
import type { AgentState } from '../state.js';
import type { IronicClient } from './client.js';
import { describeError } from '../errors.js';
import type { Log } from '../util/log.js';

export interface HeartbeaterOptions {
  log?: Log;
  /** U[0,1), for the interval jitter. */
  random?: () => number;
  /** Milliseconds. */
  now?: () => number;
  /** IPA's min_heartbeat_interval (5 s): failure base, forced spacing and longest sleep. Tests shrink it. */
  minIntervalMs?: number;
}

/** Milliseconds until the next heartbeat, given how the last one went. */
export function computeHeartbeatDelay(ok: boolean, heartbeatTimeoutS: number, random: () => number, minIntervalMs = 5000): number {
  return ok ? heartbeatTimeoutS * 1000 * (0.3 + 0.3 * random()) : minIntervalMs * (1 + random());
}

export class Heartbeater {
  private readonly state: AgentState;
  private readonly client: IronicClient;
  private readonly log: Log;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private running = false;
  private forced = false;
  private previousAt = Number.NEGATIVE_INFINITY;
  private expectedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private inFlight: AbortController | undefined;
  private loop: Promise<void> = Promise.resolve();
  /** Heartbeats attempted and answered 202 (for status and tests). */
  readonly counts = { sent: 0, accepted: 0 };

  constructor(state: AgentState, client: IronicClient, opts: HeartbeaterOptions = {}) {
    this.state = state;
    this.client = client;
    this.log = opts.log ?? client.log;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.minIntervalMs = opts.minIntervalMs ?? 5000;
  }

  /** Sends the first heartbeat at once, then keeps going until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.expectedAt = this.now();
    this.state.requestHeartbeat = () => {
      this.forced = true;
      this.wake?.();
    };
    this.loop = this.runLoop();
  }

  /** Stops at once: aborts an in-flight heartbeat and clears the timer. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.state.requestHeartbeat = () => {};
    this.inFlight?.abort(new Error('heartbeater stopped'));
    clearTimeout(this.timer);
    this.wake?.();
  }

  /** Resolves when the loop has exited after stop(). */
  whenStopped(): Promise<void> {
    return this.loop;
  }

  private async runLoop(): Promise<void> {
    this.log.info('starting heartbeater');
    while (this.running) {
      const t = this.now();
      const forcedDue = this.forced && t - this.previousAt > this.minIntervalMs;
      if (t >= this.expectedAt || forcedDue) {
        await this.sendHeartbeat();
        continue;
      }
      // Wake at least every minIntervalMs, as IPA does, so a forced request
      // that arrives without a wake() (none today) is still honoured.
      let wait = Math.min(this.minIntervalMs, this.expectedAt - t);
      if (this.forced) wait = Math.min(wait, this.previousAt + this.minIntervalMs - t + 1);
      await this.pause(Math.max(0, wait));
    }
    this.log.info('heartbeater stopped');
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
      // A heartbeat timer alone must not keep the process alive.
      this.timer.unref();
    });
  }

  private async sendHeartbeat(): Promise<void> {
    // Cleared before sending, not after as IPA does: a request made while
    // this heartbeat is in flight (a command ending) is then not lost.
    this.forced = false;
    const controller = new AbortController();
    this.inFlight = controller;
    let ok = false;
    this.counts.sent++;
    try {
      const nodeUuid = this.state.node?.uuid;
      const callbackUrl = this.state.callbackUrl;
      if (!nodeUuid || !callbackUrl) {
        throw new Error('no node UUID or callback URL yet: the lookup and the advertise address must come before start()');
      }
      await this.client.heartbeat({
        nodeUuid,
        callbackUrl,
        token: this.state.token,
        agentVersion: this.state.version,
        verifyCa: this.state.verifyCaPem,
        signal: controller.signal,
      });
      ok = true;
      this.counts.accepted++;
    } catch (e) {
      if (!this.running) return;
      this.log.error(`heartbeat failed: ${describeError(e)}`);
    } finally {
      this.inFlight = undefined;
    }
    const delay = computeHeartbeatDelay(ok, this.state.heartbeatTimeout, this.random, this.minIntervalMs);
    this.previousAt = this.now();
    this.expectedAt = this.previousAt + delay;
    const msg = `next heartbeat in ${(delay / 1000).toFixed(1)} s`;
    if (ok) this.log.debug(`heartbeat accepted; ${msg}`);
    else this.log.info(msg);
  }
}
