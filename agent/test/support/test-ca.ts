/**
 * A throwaway CA and a server certificate for 127.0.0.1 signed by it, made
 * with openssl in `dir` (EC P-256, two days): what the TLS tests need to
 * stand up an HTTPS peer the agent must trust through a `cafile`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the CA certificate (what `cafile` names). */
  caPem: string;
  caFile: string;
  /** Key and certificate of the 127.0.0.1 server. */
  key: Buffer;
  cert: Buffer;
  /** A client certificate (CN ramforge test client) signed by the CA, for servers that ask for one (IPA's certfile/keyfile). */
  clientCertFile: string;
  clientKeyFile: string;
}

/** `ips`: the server certificate's IP subjectAltNames (default 127.0.0.1 only). */
export function makeTestCa(dir: string, ips: string[] = ['127.0.0.1']): TestCa {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=ramforge test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  /** A key and a certificate for `subject` signed by the CA, with the extensions in `ext`. */
  const signed = (name: string, subject: string, ext: string): void => {
    openssl('req', ...ec, '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.cnf`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.cnf`,
      '-out',
      `${name}.crt`,
    );
  };
  signed('srv', '/CN=127.0.0.1', `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\n`);
  signed('client', '/CN=ramforge test client', 'extendedKeyUsage=clientAuth\n');
  const caFile = join(dir, 'ca.crt');
  return {
    caPem: readFileSync(caFile, 'utf8'),
    caFile,
    key: readFileSync(join(dir, 'srv.key')),
    cert: readFileSync(join(dir, 'srv.crt')),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}
