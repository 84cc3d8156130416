/**
 * `ssh.authorizedKeys`: each entry is a public key line or a file of them.
 * Every key is checked at build time (its type is one dropbear and OpenSSH
 * accept, its base64 blob decodes into exactly the fields of that type),
 * so a pasted private key or a truncated line fails the build, not the login.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { SpecIssue } from '../errors.js';

export const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

/** A key line, as opposed to a file name: one of its words is a key type. */
export function isKeyText(entry: string): boolean {
  return entry
    .trim()
    .split(/\s+/)
    .some((w) => (KEY_TYPES as readonly string[]).includes(w));
}

/** Why `line` is not an authorized_keys line, or undefined when it is one. */
export function checkKeyLine(line: string): string | undefined {
  const words = line.trim().split(/\s+/);
  // authorized_keys lets options come first (from="...",no-pty); the key type starts the key.
  const at = words.findIndex((w) => (KEY_TYPES as readonly string[]).includes(w));
  if (at < 0) {
    if (/PRIVATE KEY/.test(line)) return 'this is a private key: give the public one (the .pub file)';
    return `not a public key (it should start with one of ${KEY_TYPES.join(', ')})`;
  }
  const type = words[at]!;
  const blob = words[at + 1];
  if (!blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return `the ${type} key has no base64 key data after its type`;
  const fields = sshStrings(Buffer.from(blob, 'base64'));
  const inner = fields?.[0]?.toString('latin1');
  if (inner !== type) return `the key data is not a ${type} key${inner ? ` (it holds a ${inner} key)` : ' (truncated or damaged)'}`;
  if (!fields || !wellFormed(type, fields)) return `the ${type} key data is truncated or damaged`;
  return undefined;
}

/** RFC 4251 strings: each a 32-bit length and that many bytes, to the blob's end exactly; undefined when they do not fit. */
function sshStrings(bytes: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (at + 4 > bytes.length) return undefined;
    const len = bytes.readUInt32BE(at);
    if (at + 4 + len > bytes.length) return undefined;
    out.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** The fields of each key type (RFC 4253, 5656, 8709; OpenSSH's PROTOCOL.u2f): a cut line fails here. */
function wellFormed(type: string, f: Buffer[]): boolean {
  const ecPoint: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };
  switch (type) {
    case 'ssh-ed25519':
      return f.length === 2 && f[1]!.length === 32;
    case 'sk-ssh-ed25519@openssh.com':
      return f.length === 3 && f[1]!.length === 32 && f[2]!.length > 0;
    case 'ssh-rsa':
      // e, then n of at least 1024 bits (a sign byte may lead).
      return f.length === 3 && f[1]!.length > 0 && f[2]!.length >= 128;
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      return f.length === 4 && f[1]!.toString('latin1') === 'nistp256' && f[2]!.length === 65 && f[3]!.length > 0;
    default: {
      const curve = type.replace('ecdsa-sha2-', '');
      return f.length === 3 && f[1]!.toString('latin1') === curve && f[2]!.length === ecPoint[curve];
    }
  }
}

/**
 * The key lines of `entries` (key text, or absolute paths of files of
 * keys), with an issue per bad entry or line, each naming ssh.authorizedKeys[i].
 */
export function readAuthorizedKeys(entries: string[]): { keys: string[]; issues: SpecIssue[] } {
  const keys: string[] = [];
  const issues: SpecIssue[] = [];
  entries.forEach((entry, i) => {
    const path = `ssh.authorizedKeys[${i}]`;
    if (isKeyText(entry)) {
      const problem = checkKeyLine(entry);
      if (problem) issues.push({ path, message: problem, fix: 'paste the whole line of the .pub file, e.g. ssh-ed25519 AAAA... me@host' });
      else keys.push(entry.trim());
      return;
    }
    if (!existsSync(entry) || !statSync(entry).isFile()) {
      issues.push({
        path,
        message: `'${entry}' is neither a public key nor a file`,
        fix: 'give a key line (ssh-ed25519 AAAA...) or a .pub file, relative to the spec file',
      });
      return;
    }
    const text = readFileSync(entry, 'utf8');
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      issues.push({ path, message: `${entry} is a private key`, fix: 'give the public key (the .pub file beside it)' });
      return;
    }
    const lines = text.split('\n');
    let found = 0;
    lines.forEach((line, n) => {
      if (!line.trim() || line.trim().startsWith('#')) return;
      const problem = checkKeyLine(line);
      if (problem)
        issues.push({
          path,
          message: `${entry} line ${n + 1}: ${problem}`,
          fix: 'a key file holds public keys, one per line (an authorized_keys or .pub file)',
        });
      else {
        keys.push(line.trim());
        found++;
      }
    });
    if (found === 0 && !issues.some((x) => x.path === path))
      issues.push({ path, message: `${entry} holds no public key`, fix: 'name a .pub or authorized_keys file' });
  });
  return { keys, issues };
}
