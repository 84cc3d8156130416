/**
 * The agent's Ironic API client (IPA ironic_api_client.APIClient): version
 * discovery, node lookup and heartbeat. One instance per agent process; the
 * discovered version is cached for its life.
 */
import type { AgentConfig } from '../config.js';
import {
  AGENT_TOKEN_IRONIC_VERSION,
  AGENT_VERIFY_CA_IRONIC_VERSION,
  AGENT_VERSION_IRONIC_VERSION,
  MIN_IRONIC_VERSION,
  chooseLowerVersion,
  isVersionAtLeast,
  normalizeApiVersion,
} from './api-version.js';
import { HeartbeatConflictError, HeartbeatConnectionError, HeartbeatError, IronicConnectionError } from './errors.js';
import { describeError } from '../errors.js';
import { envProxies, httpRequestText, readCaFile, type HttpText } from '../util/http.js';
import { describeIronicError, isObject } from './responses.js';
import { createConsoleLog, type Log } from '../util/log.js';
import { lookupWithRetries, type LookupOptions, type LookupResult } from './lookup.js';

export type { LookupResult, LookupConfig } from './lookup.js';
export { applyLookup } from './lookup.js';

/** Seams for tests; production uses the defaults. */
export interface IronicClientOptions {
  log?: Log;
  /** Must reject (or resolve early) when the signal aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** U[0,1), for the lookup backoff jitter. */
  random?: () => number;
  /** Milliseconds, for the lookup deadline. */
  now?: () => number;
}

export interface HeartbeatOptions {
  nodeUuid: string;
  callbackUrl: string;
  token: string | undefined;
  agentVersion: string;
  verifyCa?: string;
  signal?: AbortSignal;
}

export interface RequestOptions {
  /** Sent as X-OpenStack-Ironic-API-Version when given. */
  version?: string;
  body?: unknown;
  signal?: AbortSignal;
}

/** A sleep that keeps the process alive (lookup runs before anything else holds the loop). */
export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class IronicClient {
  readonly config: AgentConfig;
  readonly log: Log;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random: () => number;
  readonly now: () => number;
  /** API URLs in trial order; the last one that answered is first. */
  private urls: string[];
  private cachedVersion: string | undefined;
  /** GET / failures since the last success (discoverVersion answered the 1.31 fallback that many times in a row). */
  versionDiscoveryFailures = 0;

  constructor(config: AgentConfig, opts: IronicClientOptions = {}) {
    this.config = config;
    this.log = opts.log ?? createConsoleLog(config.debug);
    this.sleep = opts.sleep ?? sleepFor;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    // A trailing slash would give "//v1/lookup", which Ironic answers with 404.
    this.urls = config.apiUrl.map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u !== '');
  }

  /** The API URLs in the order they will be tried next. */
  get apiUrls(): readonly string[] {
    return this.urls;
  }

  /**
   * The Ironic API version to talk: ironic_api_version if configured, else
   * default_version.version from GET {api_url}/. On any error returns 1.31
   * and, unlike a success, does not cache it: a lookup that starts before
   * Ironic is up must still get 1.62 (and with it a token) once it is.
   */
  async discoverVersion(): Promise<string> {
    if (this.cachedVersion) return this.cachedVersion;
    const configured = this.config.ironicApiVersion;
    if (configured) {
      const v = normalizeApiVersion(configured);
      if (v) return (this.cachedVersion = v);
      this.log.warn(`ignoring ipa-ironic-api-version=${configured}: expected "major.minor" such as 1.68`);
    }
    try {
      const res = await this.request('GET', '/');
      if (res.status !== 200) throw new Error(describeIronicError(res));
      const doc: unknown = JSON.parse(res.text);
      const dv = isObject(doc) && isObject(doc.default_version) ? doc.default_version.version : undefined;
      const v = typeof dv === 'string' ? normalizeApiVersion(dv) : undefined;
      if (!v) throw new Error('the root document has no default_version.version');
      this.log.info(`Ironic API version discovered: ${v}`);
      this.versionDiscoveryFailures = 0;
      return (this.cachedVersion = v);
    } catch (e) {
      this.versionDiscoveryFailures++;
      this.log.warn(`could not discover the Ironic API version (${describeError(e)}); using ${MIN_IRONIC_VERSION}`);
      return MIN_IRONIC_VERSION;
    }
  }

  /**
   * GET /v1/lookup until Ironic answers 200 with a node and its config, or
   * lookup_timeout runs out (then LookupNodeError). See lookup.ts.
   */
  lookupNode(o: LookupOptions): Promise<LookupResult> {
    return lookupWithRetries(this, o);
  }

  /**
   * POST /v1/heartbeat/{uuid} with only the keys the version allows.
   * Resolves on 202; throws HeartbeatConflictError (409), HeartbeatError
   * (any other status, with Ironic's faultstring) or HeartbeatConnectionError.
   */
  async heartbeat(o: HeartbeatOptions): Promise<void> {
    const discovered = await this.discoverVersion();
    const body: Record<string, unknown> = { callback_url: o.callbackUrl };
    if (isVersionAtLeast(discovered, AGENT_TOKEN_IRONIC_VERSION)) body.agent_token = o.token ?? null;
    if (isVersionAtLeast(discovered, AGENT_VERSION_IRONIC_VERSION)) body.agent_version = o.agentVersion;
    if (isVersionAtLeast(discovered, AGENT_VERIFY_CA_IRONIC_VERSION) && o.verifyCa) body.agent_verify_ca = o.verifyCa;
    const version = chooseLowerVersion(discovered, AGENT_VERIFY_CA_IRONIC_VERSION);
    let res: HttpText;
    try {
      res = await this.request('POST', `/v1/heartbeat/${encodeURIComponent(o.nodeUuid)}`, { version, body, signal: o.signal });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw new HeartbeatConnectionError(describeError(e), { cause: e });
    }
    if (res.status === 202) return;
    const text = describeIronicError(res);
    if (res.status === 409) throw new HeartbeatConflictError(text);
    throw new HeartbeatError(text);
  }

  /**
   * One request against the API URLs in turn: a URL that does not answer at
   * all is skipped, the first that answers (any status) moves to the front.
   * Throws IronicConnectionError when none answered.
   */
  async request(method: 'GET' | 'POST', path: string, o: RequestOptions = {}): Promise<HttpText> {
    if (this.urls.length === 0) throw new IronicConnectionError('(no ipa-api-url)', { cause: new Error('no API URL configured') });
    const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
    if (o.version) headers['X-OpenStack-Ironic-API-Version'] = o.version;
    if (this.config.globalRequestId) headers['X-OpenStack-Request-ID'] = this.config.globalRequestId;
    let last: unknown;
    for (const base of [...this.urls]) {
      try {
        const res = await httpRequestText(base + path, {
          method,
          headers,
          body: o.body === undefined ? undefined : JSON.stringify(o.body),
          timeoutMs: Math.max(1, this.config.httpRequestTimeout || 30) * 1000,
          // Read on first use: the file may be copied from virtual media after startup.
          signal: o.signal,
          ca: readCaFile(this.config.cafile),
          insecure: this.config.insecure,
          ...envProxies(),
        });
        this.promoteUrl(base);
        return res;
      } catch (e) {
        // Aborted: the caller's reason (e.g. 'agent stopping'), not node:http's generic AbortError, whether the
        // abort came before the request or while it was in flight.
        if (o.signal?.aborted) throw o.signal.reason ?? e;
        last = e;
        this.log.warn(`${method} ${base}${path} failed: ${describeError(e)}`);
      }
    }
    throw new IronicConnectionError(this.urls.join(', '), { cause: last });
  }

  private promoteUrl(base: string): void {
    if (this.urls[0] === base) return;
    this.urls = [base, ...this.urls.filter((u) => u !== base)];
  }
}
