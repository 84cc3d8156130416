/**
 * Which certificate the API is served with: the operator's (listen_tls with
 * tls_cert_file/tls_key_file), an auto-TLS one (ironic/tls.ts generates it), or
 * none. An auto-TLS certificate is kept in the per-boot state directory and
 * reused when the agent restarts within the same boot: the conductor stored
 * the first PEM and answers 400 to a heartbeat carrying a different one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../config.js';
import { AgentError } from '../errors.js';
import type { ServerTls } from './server.js';

export interface ChosenTls {
  tls: ServerTls | undefined;
  /** PEM for agent_verify_ca (auto TLS only). */
  verifyCaPem: string | undefined;
  protocol: 'http' | 'https';
}

async function readPair(certFile: string, keyFile: string): Promise<ServerTls | undefined> {
  try {
    return { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
  } catch {
    return undefined;
  }
}

/** Pick and, for auto TLS, create or reuse the certificate for `ip`. */
export async function chooseServerTls(
  config: AgentConfig,
  o: { ip?: string; ironicVersion?: string; stateDir: string },
): Promise<ChosenTls> {
  if (config.listenTls) {
    const pair = await readPair(config.tlsCertFile!, config.tlsKeyFile!);
    if (!pair) {
      throw new AgentError(
        'Cannot start the agent API',
        `cannot read tlsCertFile ${config.tlsCertFile} / tlsKeyFile ${config.tlsKeyFile}: fix the paths or turn listenTls off`,
      );
    }
    return { tls: pair, verifyCaPem: undefined, protocol: 'https' };
  }
  const none: ChosenTls = { tls: undefined, verifyCaPem: undefined, protocol: config.advertiseProtocol };
  if (!o.ip || !o.ironicVersion) return none;
  // Loaded only after a lookup: it brings node:crypto and node:os (1.2 MiB of RSS an agent without Ironic never needs).
  const { certCoversIp, generateTlsCertificate, pairMatches, shouldUseAutoTls } = await import('../ironic/tls.js');
  if (!shouldUseAutoTls(config, o.ironicVersion)) return none;
  const kept = await readPair(join(o.stateDir, 'agent.crt'), join(o.stateDir, 'agent.key'));
  // Made anew: a pair that does not match (a start that stopped between the two files) would fail every TLS
  // handshake, and one for another address (the node moved networks since) the conductor's hostname check.
  const reused = kept && pairMatches(kept.certPem, kept.keyPem) && certCoversIp(kept.certPem, o.ip) ? kept : undefined;
  const pair = reused ?? (await generateTlsCertificate(o.ip, { dir: o.stateDir }));
  return { tls: { certPem: pair.certPem, keyPem: pair.keyPem }, verifyCaPem: pair.certPem, protocol: 'https' };
}
