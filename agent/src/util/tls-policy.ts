/**
 * The TLS floor for every connection the agent makes or accepts (IPA
 * master's tls_min_version and tls_cipher_suites, its
 * utils.create_ssl_context): TLS 1.2 or 1.3 at least; under TLS 1.2 only
 * the forward-secret AES-GCM suites IPA defaults to, unless the operator
 * (ipa-tls-cipher-suites) or Ironic's lookup names others. TLS 1.3's suites
 * are OpenSSL's, as in IPA.
 *
 * It is process-wide on purpose: Ironic's lookup may raise it, and that
 * holds for every later connection and for the API server started after the
 * lookup, as IPA's set_override does. util/http.ts reads it for every
 * outbound request; api/server.ts once, when it creates the TLS listener
 * (after the lookup), as IPA builds its server context once.
 */
import { errMsg } from '../errors.js';
import type { Log } from './log.js';
import { tls } from './node-builtins.js';

export type TlsMinVersion = '1.2' | '1.3';

export interface TlsPolicy {
  minVersion: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2; undefined = DEFAULT_TLS12_CIPHERS. */
  cipherSuites?: string;
}

/** IPA master's TLS 1.2 default: ECDHE key exchange, AES-GCM. */
export const DEFAULT_TLS12_CIPHERS =
  'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256';
/** OpenSSL's TLS 1.3 suites (Node's default order). Node takes both lists in one `ciphers` string, told apart by the TLS_ prefix. */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

const DEFAULT_POLICY: TlsPolicy = { minVersion: '1.2' };
let current: TlsPolicy = DEFAULT_POLICY;

export function getTlsPolicy(): TlsPolicy {
  return current;
}

/** Replaces the policy (tests restore it with resetTlsPolicy). Values are checked by applyTlsSettings. */
export function setTlsPolicy(p: TlsPolicy): void {
  current = { ...p };
}

export function resetTlsPolicy(): void {
  current = DEFAULT_POLICY;
  clientCert = undefined;
}

/**
 * IPA's certfile/keyfile: the client certificate every TLS connection the
 * agent makes presents (Ironic, the inspector, image and config-drive
 * servers; not an https proxy on the way), as IPA master's one requests session does; set
 * at start from the config. util/http.ts reads the files on first use, as
 * cafile's (virtual media may bring them).
 */
let clientCert: { certfile: string; keyfile: string } | undefined;

export function setClientCertificate(p: { certfile?: string; keyfile?: string }, log: Log): void {
  clientCert = undefined;
  if (p.certfile && p.keyfile) {
    clientCert = { certfile: p.certfile, keyfile: p.keyfile };
    log.info(`TLS client certificate ${p.certfile}`);
  } else if (p.certfile || p.keyfile) {
    // IPA's words: one without the other is ignored.
    log.warn("Only one of 'keyfile' and 'certfile' options is defined in config file. Its value will be ignored.");
  }
}

export function getClientCertificate(): { certfile: string; keyfile: string } | undefined {
  return clientCert;
}

/** The options for https.request, tls.connect and https.createServer that carry the policy. */
export function tlsPolicyOptions(p: TlsPolicy = current): { minVersion: 'TLSv1.2' | 'TLSv1.3'; maxVersion: 'TLSv1.3'; ciphers?: string } {
  if (p.minVersion === '1.3') return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
  const list = p.cipherSuites ?? DEFAULT_TLS12_CIPHERS;
  // A list with no TLS 1.3 suite would switch TLS 1.3 off in Node; IPA's set_ciphers leaves 1.3 alone.
  const ciphers = list.split(':').some((c) => c.startsWith('TLS_')) ? list : `${TLS13_SUITES}:${list}`;
  return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers };
}

/** Why OpenSSL refuses `cipherSuites` (it matches no cipher), or undefined. Loads node:tls. */
export function cipherSuitesProblem(cipherSuites: string): string | undefined {
  try {
    tls().createSecureContext(tlsPolicyOptions({ minVersion: '1.2', cipherSuites }));
    return undefined;
  } catch (e) {
    return errMsg(e);
  }
}

/**
 * Applies tls_min_version / tls_cipher_suites from `source` (the agent's
 * config, or the lookup) on top of the current policy. A value that is not
 * set (undefined, null, "") changes nothing, as in IPA; one that cannot be
 * used is logged and ignored (the policy stays what it was). As in IPA, a
 * valid value replaces the current one, lower or higher.
 */
export function applyTlsSettings(source: string, minVersion: unknown, cipherSuites: unknown, log: Log): void {
  const next: TlsPolicy = { ...current };
  if (minVersion !== undefined && minVersion !== null && minVersion !== '') {
    if (minVersion === '1.2' || minVersion === '1.3') next.minVersion = minVersion;
    else log.warn(`ignoring tls_min_version ${JSON.stringify(minVersion)} from ${source}: expected "1.2" or "1.3"`);
  }
  if (cipherSuites !== undefined && cipherSuites !== null && cipherSuites !== '') {
    const problem = typeof cipherSuites === 'string' ? cipherSuitesProblem(cipherSuites) : 'not a string';
    if (problem === undefined) next.cipherSuites = cipherSuites as string;
    else
      log.error(
        `ignoring tls_cipher_suites ${JSON.stringify(cipherSuites)} from ${source} (${problem}): ` +
          `keeping ${next.cipherSuites ? JSON.stringify(next.cipherSuites) : "IPA's default ECDHE AES-GCM suites"}; ` +
          'give a colon-separated OpenSSL cipher list such as ECDHE-RSA-AES128-GCM-SHA256',
      );
  }
  if (next.minVersion === current.minVersion && next.cipherSuites === current.cipherSuites) return;
  current = next;
  log.info(
    `TLS policy from ${source}: TLS ${next.minVersion === '1.3' ? '1.3 only' : `1.2+, TLS 1.2 suites ${next.cipherSuites ?? 'ECDHE AES-GCM (default)'}`}`,
  );
}
