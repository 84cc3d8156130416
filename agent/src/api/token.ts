/**
 * Agent token checks (ipa-protocol.md §2.3). The token travels only as the
 * query parameter agent_token.
 *  - POST: required whenever the agent holds a token; when it holds none
 *    (Ironic < 1.62, standalone) a request without one is accepted, as the
 *    Zed IPA's plain equality did, except after a lookup answered "******"
 *    (Ironic gave the token to an earlier lookup): then every POST is
 *    refused, as IPA master refuses everything without a held token.
 *  - GET of commands: "latched". Zed conductors never send a token on GET,
 *    so it is optional until the first GET that carries the valid token;
 *    from then on every GET must carry it (IPA 10.2 until mid-2026). A GET
 *    with a wrong token is refused but does not latch: otherwise anyone on
 *    the network could, with one bogus GET, lock an older conductor (which
 *    polls without a token) out of the results and stall its flow.
 */
import type { AgentState } from '../state.js';
import { crypto } from '../util/node-builtins.js';
import { HttpError } from './faults.js';

function isSameToken(given: string, held: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(held);
  return a.length === b.length && crypto().timingSafeEqual(a, b);
}

const rejectToken = (): never => {
  throw new HttpError(401, 'Token invalid.');
};

/** Throws 401 unless `token` may run a command. */
export function checkCommandToken(state: AgentState, token: unknown): void {
  const given = typeof token === 'string' && token !== '' ? token : undefined;
  if (state.token === undefined) {
    // Ironic issued a token to someone else (a masked lookup): nobody without it may command the node.
    if (given !== undefined || state.tokenHeldElsewhere) rejectToken();
    return;
  }
  if (given === undefined || !isSameToken(given, state.token)) rejectToken();
}

/** Throws 401 unless `token` may read command results (latched mode). */
export function checkReadToken(state: AgentState, token: unknown): void {
  const given = typeof token === 'string' && token !== '' ? token : undefined;
  if (given !== undefined) {
    if (state.token === undefined || !isSameToken(given, state.token)) rejectToken();
    state.getTokenLatched = true;
    return;
  }
  if (state.getTokenLatched) rejectToken();
}
