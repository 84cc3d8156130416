/**
 * Errors of the agent's Ironic client side. The names follow IPA's
 * errors.py so that log lines and any command_error read the same as with
 * the Python agent.
 */
import { AgentError } from '../errors.js';

/** Any heartbeat answer other than 202. */
export class HeartbeatError extends AgentError {
  constructor(details: string, opts: { cause?: unknown } = {}) {
    super('Error heartbeating to agent API', details, 500, opts);
  }
}

/** 409 from Ironic: the node is locked; retried in 5-10 s like any failure. */
export class HeartbeatConflictError extends AgentError {
  constructor(details: string) {
    super('ConflictError heartbeating to agent API', details, 409);
  }
}

/** No HTTP answer at all (refused, reset, timeout, TLS failure). */
export class HeartbeatConnectionError extends AgentError {
  constructor(details: string, opts: { cause?: unknown } = {}) {
    super('Error attempting to heartbeat - Connection failed', details, 500, opts);
  }
}

/** No usable advertise address after ip_lookup_attempts tries. */
export class LookupAgentIPError extends AgentError {
  constructor(details: string) {
    super('Error finding IP for Ironic Agent', details, 500);
  }
}

/** Thrown by the HTTP layer when no API URL answered (every one failed to connect). */
export class IronicConnectionError extends AgentError {
  constructor(url: string, opts: { cause?: unknown } = {}) {
    const why = opts.cause instanceof Error ? opts.cause.message : String(opts.cause ?? 'unknown error');
    super(
      'Could not connect to the Ironic API',
      `${url}: ${why}. Check ipa-api-url and that the Ironic API is reachable from the ramdisk`,
      503,
      opts,
    );
  }
}
