/**
 * Node lookup (ipa-protocol.md §3): GET /v1/lookup with retries, and
 * applying the answer to the agent state (IPA process_lookup_data).
 */
import { LookupNodeError, describeError } from '../errors.js';
import type { Node } from '../hardware/types.js';
import type { AgentState } from '../state.js';
import { AGENT_TOKEN_IRONIC_VERSION, chooseLowerVersion } from './api-version.js';
import type { IronicClient } from './client.js';
import { describeIronicError, isObject } from './responses.js';
import { createConsoleLog, type Log } from '../util/log.js';
import { applyTlsSettings } from '../util/tls-policy.js';

/** The lookup config; Zed sends only the first five keys, master adds the rest. */
export interface LookupConfig {
  heartbeat_timeout?: number;
  agent_token?: string | null;
  agent_token_required?: boolean;
  metrics?: Record<string, unknown>;
  metrics_statsd?: Record<string, unknown>;
  agent_md5_checksum_enable?: boolean;
  disable_deep_image_inspection?: boolean;
  permitted_image_formats?: string[];
  agent_skip_bmc_detect?: boolean;
  enable_bios_bootloader_install?: boolean;
  tls_min_version?: '1.2' | '1.3' | null;
  tls_cipher_suites?: string | null;
  [key: string]: unknown;
}

export interface LookupResult {
  node: Node & { uuid: string };
  config: LookupConfig;
}

/** The literal Ironic returns instead of a token it has already handed out. */
export const MASKED_TOKEN = '******';
/** Ceiling of the random-exponential backoff (IPA lookup_api_max_interval). */
const MAX_LOOKUP_WAIT_S = 60;

/**
 * tenacity's wait_random_exponential(min, max) for 1-based attempt n:
 * U(min, max(min, min(2^(n-1), max))) seconds.
 */
export function computeLookupBackoff(attempt: number, minS: number, maxS: number, random: () => number): number {
  const high = Math.max(minS, Math.min(2 ** Math.min(attempt - 1, 30), maxS));
  return minS + (high - minS) * random();
}

type Attempt = { kind: 'ok'; result: LookupResult } | { kind: 'failed' } | { kind: 'conflict' };

/** Parses a 200 body; undefined when it lacks node.uuid or config (IPA counts that as a failed attempt). */
export function parseLookupBody(text: string): LookupResult | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(doc) || !isObject(doc.node) || typeof doc.node.uuid !== 'string') return undefined;
  let config: LookupConfig;
  if (isObject(doc.config)) config = { ...doc.config };
  // Very old APIs put heartbeat_timeout at the top level; IPA moves it into config.
  else if ('heartbeat_timeout' in doc) config = { heartbeat_timeout: doc.heartbeat_timeout as number };
  else return undefined;
  return { node: doc.node as Node & { uuid: string }, config };
}

/**
 * Lookups that wait for GET / to answer before looking up at the fallback
 * version. Ironic issues the agent token only to a lookup at 1.62 or later,
 * and only once: a lookup at 1.31 while GET / failed for a moment (an API
 * under load as many nodes boot) would leave the agent without a token,
 * and every heartbeat at the version found later refused. After this many
 * failures in a row the agent looks up at 1.31 anyway (an Ironic whose root
 * document cannot be read), as IPA does at once.
 */
export const LOOKUPS_WAITING_FOR_VERSION = 3;

export interface LookupOptions {
  addresses: string[];
  /**
   * The MACs again before each retry: a NIC that shows up late (its driver,
   * its link) is in the next lookup. IPA lists them once per lookup call and
   * a late one waits for the agent's restart.
   */
  refreshAddresses?: () => Promise<string[]>;
  nodeUuid?: string;
  signal?: AbortSignal;
}

async function tryLookupOnce(client: IronicClient, o: LookupOptions): Promise<Attempt> {
  const discovered = await client.discoverVersion();
  if (client.versionDiscoveryFailures > 0 && client.versionDiscoveryFailures < LOOKUPS_WAITING_FOR_VERSION) {
    client.log.warn('lookup postponed: without the API version it would go out at 1.31, which Ironic answers without the agent token');
    return { kind: 'failed' };
  }
  const version = chooseLowerVersion(discovered, AGENT_TOKEN_IRONIC_VERSION);
  const query = new URLSearchParams({ addresses: o.addresses.join(',') });
  if (o.nodeUuid) query.set('node_uuid', o.nodeUuid);
  let res;
  try {
    res = await client.request('GET', `/v1/lookup?${query.toString()}`, { version, signal: o.signal });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    client.log.warn(`lookup failed: ${describeError(e)}`);
    return { kind: 'failed' };
  }
  if (res.status === 200) {
    const result = parseLookupBody(res.text);
    if (result) return { kind: 'ok', result };
    client.log.warn('lookup answered 200 without node.uuid and config; retrying');
    return { kind: 'failed' };
  }
  const hint =
    res.status === 404
      ? ' (no node has these MACs, or the node is not waiting for an agent: lookup works in clean wait, wait call-back, inspect wait, rescue wait)'
      : '';
  client.log.warn(`lookup of ${o.addresses.join(',')} failed: ${describeIronicError(res)}${hint}`);
  return res.status === 409 ? { kind: 'conflict' } : { kind: 'failed' };
}

/**
 * Retries until success or lookup_timeout (IPA's tenacity loop); on a 409
 * (node locked while the token is created) it also pauses 5, 10, then 30 s.
 * The deadline is checked after each attempt, so one attempt lands on it.
 */
export async function lookupWithRetries(client: IronicClient, opts: LookupOptions): Promise<LookupResult> {
  const { lookupTimeout, lookupInterval } = client.config;
  const deadline = client.now() + lookupTimeout * 1000;
  const minWait = Math.max(0, lookupInterval);
  let conflictPause = 0;
  let o = opts;
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1 && o.refreshAddresses) o = { ...o, addresses: await refreshed(client, o) };
    const r = await tryLookupOnce(client, o);
    if (r.kind === 'ok') {
      client.log.info(`lookup succeeded: node ${r.result.node.uuid} (attempt ${attempt})`);
      return r.result;
    }
    if (r.kind === 'conflict') {
      conflictPause = conflictPause === 0 ? 5 : conflictPause === 5 ? 10 : 30;
      await client.sleep(conflictPause * 1000, o.signal);
    }
    const remaining = deadline - client.now();
    if (remaining <= 0) {
      throw new LookupNodeError(
        `Could not look up node info after ${attempt} attempts in ${lookupTimeout} s (addresses ${o.addresses.join(',') || 'none'}). ` +
          'Check that a port with one of these MACs is enrolled and the node is in a wait state; raise ipa-lookup-timeout if Ironic is slow.',
      );
    }
    const wait = computeLookupBackoff(attempt, minWait, Math.max(minWait, MAX_LOOKUP_WAIT_S), client.random);
    await client.sleep(Math.min(wait * 1000, remaining), o.signal);
  }
}

/** The MACs listed again (a NIC that came up late); the ones before when listing fails or finds none. */
async function refreshed(client: IronicClient, o: LookupOptions): Promise<string[]> {
  let now: string[];
  try {
    now = await o.refreshAddresses!();
  } catch (e) {
    client.log.warn(`listing the network interfaces for the lookup failed: ${describeError(e)}; asking with the MACs listed before`);
    return o.addresses;
  }
  if (now.length === 0) return o.addresses;
  if (now.join(',') !== o.addresses.join(','))
    client.log.info(`lookup addresses now ${now.join(',')} (were ${o.addresses.join(',') || 'none'})`);
  return now;
}

/**
 * Stores the lookup answer in the agent state. Token rules (§3.4): a token
 * of >= 32 characters is adopted; "******" keeps the one already held (from
 * ipa-agent-token or an earlier lookup); anything else is ignored.
 * "******" with no token held: we follow the Zed agent and only log an
 * error (master IPA locks down instead); heartbeats will then fail with 400
 * until the operator reboots the node, which wipes Ironic's token.
 */
export function applyLookup(state: AgentState, r: LookupResult, log: Log = createConsoleLog(state.config.debug)): void {
  state.node = r.node;
  const { agent_token: token, ...rest } = r.config;
  const timeout = Number(rest.heartbeat_timeout);
  if (Number.isFinite(timeout) && timeout > 0) state.heartbeatTimeout = timeout;
  // Every key is kept under its wire name; consumers read what they need
  // (agent_md5_checksum_enable, permitted_image_formats, agent_skip_bmc_detect, ...).
  state.lookupConfig = { ...state.lookupConfig, ...rest };
  // IPA overrides its md5_enabled option with this key; do the same on the config.
  if (typeof rest.agent_md5_checksum_enable === 'boolean') state.config.md5Enabled = rest.agent_md5_checksum_enable;
  // [master] Ironic's TLS floor: every later connection and the API server (started after the lookup) use it.
  applyTlsSettings("Ironic's lookup", rest.tls_min_version, rest.tls_cipher_suites, log);
  if (typeof token === 'string' && token.length >= 32) {
    if (state.token && state.token !== token) log.warn('lookup returned a new agent token; replacing the one held');
    state.token = token;
    log.info('agent token received from the lookup');
  } else if (token === MASKED_TOKEN) {
    if (state.token) log.info('lookup returned a masked token; keeping the token already held');
    else {
      // Someone holds the token: refuse every command rather than run one for whoever asks without it.
      state.tokenHeldElsewhere = true;
      log.error(
        'lookup returned a masked token ("******") and no token is held (no ipa-agent-token): ' +
          'Ironic already issued the token to an earlier lookup, so heartbeats will be refused ' +
          'and every command is refused (401). ' +
          'Reboot the node (a power action wipes the token) or pass ipa-agent-token.',
      );
    }
  } else if (token !== undefined && token !== null) {
    log.warn('ignoring an agent token shorter than 32 characters from the lookup');
  } else {
    log.debug('lookup returned no agent token (Ironic API older than 1.62?)');
  }
}
