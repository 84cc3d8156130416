/**
 * Auto TLS (IPA tls_utils.generate_tls_certificate, ipa-protocol.md §2.1):
 * a throw-away self-signed certificate for the agent's API. The conductor
 * receives the PEM as agent_verify_ca, stores it and verifies the agent
 * against it, checking the host name against the IP SAN.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_STATE_DIR, type AgentConfig } from '../config.js';
import { bitString, boolean, explicit, integer, ipBytes, octetString, oid, sequence, set, time, tlv, utf8String } from '../util/der.js';
import { AGENT_VERIFY_CA_IRONIC_VERSION, isVersionAtLeast } from './api-version.js';

/** IPA auto_tls_allowed_clock_skew: the node's clock is often wrong before NTP. */
const ALLOWED_CLOCK_SKEW_S = 3600;
const VALID_FOR_DAYS = 90;

export interface GeneratedCertificate {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

/**
 * Whether the agent should generate its own certificate: not when an
 * operator configured TLS (listen_tls), only with enable_auto_tls, an
 * api_url, and an Ironic that accepts agent_verify_ca (>= 1.68).
 */
export function shouldUseAutoTls(config: AgentConfig, ironicVersion: string): boolean {
  return (
    !config.listenTls && config.enableAutoTls && config.apiUrl.length > 0 && isVersionAtLeast(ironicVersion, AGENT_VERIFY_CA_IRONIC_VERSION)
  );
}

function encodePem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const OID_ECDSA_WITH_SHA512 = '1.2.840.10045.4.3.4';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

/** The DER of a self-signed X.509 v3 certificate (RFC 5280 §4.1), signed with ECDSA and SHA-512. */
function selfSignedDer(
  keys: { publicKey: KeyObject; privateKey: KeyObject },
  c: { serial: Buffer; commonName: string; notBefore: Date; notAfter: Date; ip: string },
): Buffer {
  const algorithm = sequence(oid(OID_ECDSA_WITH_SHA512)); // parameters absent (RFC 5758 §3.2)
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(c.commonName))));
  // subjectAltName, marked critical: one iPAddress ([7] IMPLICIT OCTET STRING), which the conductor checks.
  const san = sequence(oid(OID_SUBJECT_ALT_NAME), boolean(true), octetString(sequence(tlv(0x87, ipBytes(c.ip)))));
  const tbs = sequence(
    explicit(0, integer(2)), // v3
    integer(c.serial),
    algorithm,
    name,
    sequence(time(c.notBefore), time(c.notAfter)),
    name,
    keys.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(san)),
  );
  return sequence(tbs, algorithm, bitString(sign('sha512', tbs, keys.privateKey)));
}

/**
 * Generates an EC key (P-384 unless told) and a self-signed certificate:
 * CN = host name, critical subjectAltName IP:<ip>, valid from now − 1 h for
 * 90 days, ECDSA with SHA-512. Writes agent.key (0600) and agent.crt into
 * `dir` (default the per-boot state directory) and returns both PEMs.
 */
export async function generateTlsCertificate(
  ip: string,
  o: { curve?: 'P-384' | 'P-256'; dir?: string; hostname?: string; now?: Date } = {},
): Promise<GeneratedCertificate> {
  const curve = o.curve ?? 'P-384';
  const dir = o.dir ?? DEFAULT_STATE_DIR;
  const now = o.now ?? new Date();
  // Made on the main thread: a P-384 key takes about a millisecond (tens under
  // emulation), and nothing is served yet. generateKeyPair's threadpool version
  // left about 0.9 MiB more resident for the agent's life (bench, after lookup:
  // 51.1-51.6 against 50.4-50.6 MiB; a worker's malloc arena holds part of it).
  const keys = generateKeyPairSync('ec', { namedCurve: curve });
  // Serial: 16 random bytes, the first in 1..0x7f, so it stays a positive INTEGER of 16 bytes.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 1;
  const der = selfSignedDer(keys, {
    serial,
    commonName: o.hostname ?? (hostname() || 'ironic-python-agent'),
    notBefore: new Date(now.getTime() - ALLOWED_CLOCK_SKEW_S * 1000),
    notAfter: new Date(now.getTime() + VALID_FOR_DAYS * 86400 * 1000),
    ip,
  });
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const certPem = encodePem('CERTIFICATE', der);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const keyFile = join(dir, 'agent.key');
  const certFile = join(dir, 'agent.crt');
  // Each file whole or not at all (a restart reuses them: a half-written key would stop TLS for the rest of the boot).
  await writeFile(`${keyFile}.tmp`, keyPem, { mode: 0o600 });
  await writeFile(`${certFile}.tmp`, certPem, { mode: 0o644 });
  await rename(`${keyFile}.tmp`, keyFile);
  await rename(`${certFile}.tmp`, certFile);
  return { certPem, keyPem, certFile, keyFile };
}

/** Whether the certificate names `ip` (its IP SAN): a pair kept from a start on another address would fail the conductor's check. */
export function certCoversIp(certPem: string, ip: string): boolean {
  try {
    return new X509Certificate(certPem).checkIP(ip) !== undefined;
  } catch {
    return false;
  }
}

/** Does the certificate carry the key's public half (a pair kept from an earlier start)? False for anything unreadable. */
export function pairMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
