/**
 * Auto TLS (IPA tls_utils.generate_tls_certificate, ipa-protocol.md §2.1):
 * a throw-away self-signed certificate for the agent's API. The conductor
 * receives the PEM as agent_verify_ca, stores it and verifies the agent
 * against it, checking the host name against the IP SAN.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { DEFAULT_STATE_DIR, type AgentConfig } from '../config.js';
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

function encodePem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
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
  // Loaded here, not at start: ~0.5 MB of ASN.1 code that only auto TLS needs (idle RSS).
  const x509 = await import('@peculiar/x509');
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify']);
  // x509's types name DOM globals (Crypto, CryptoKeyPair); Node's webcrypto is that implementation.
  const crypto = webcrypto as unknown as Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[1];
  // Serial: 16 random bytes with the top bit cleared, so it stays a positive INTEGER.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [o.hostname ?? (hostname() || 'ironic-python-agent')] }],
      notBefore: new Date(now.getTime() - ALLOWED_CLOCK_SKEW_S * 1000),
      notAfter: new Date(now.getTime() + VALID_FOR_DAYS * 86400 * 1000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' },
      keys: keys as unknown as Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: ip }], true)],
    },
    crypto,
  );
  const keyPem = encodePem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const certPem = cert.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const keyFile = join(dir, 'agent.key');
  const certFile = join(dir, 'agent.crt');
  await writeFile(keyFile, keyPem, { mode: 0o600 });
  await writeFile(certFile, certPem, { mode: 0o644 });
  return { certPem, keyPem, certFile, keyFile };
}
