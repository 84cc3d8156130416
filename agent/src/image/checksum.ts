/**
 * Checksum selection, IPA's ImageDownload.__init__ (§10.2): which algorithm
 * and which expected digest a download is verified against.
 */
import { crypto } from '../util/node-builtins.js';
import { ImageDownloadFatalError } from './image-errors.js';

/** What image_info says, before any checksum file is fetched. */
export type ChecksumSource = { kind: 'value'; algo: string; value: string } | { kind: 'url'; url: string; algo: string | null };

export interface ResolvedChecksum {
  algo: string;
  value: string;
}

/** An http(s) URL, as image_info gives checksum files (IPA checks the same prefix). */
export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** IPA's check_md5_enabled text, with how to turn MD5 back on. */
export const MD5_DISABLED =
  'MD5 support is disabled, and support will be removed in a 2024 version of Ironic. ' +
  'Send os_hash_algo/os_hash_value or a SHA-256/SHA-512 checksum, or allow MD5 ' +
  '(agent_md5_checksum_enable in the lookup config, md5Enabled in the agent config)';

/** Algorithm from a hex digest's length: 32 → md5 (unless disabled), 64 → sha256, 128 → sha512. */
export function inferHashAlgo(digest: string, md5Enabled: boolean, imageId = ''): string {
  const len = digest.trim().length;
  if (len === 64) return 'sha256';
  if (len === 128) return 'sha512';
  if (len === 32) {
    if (md5Enabled) return 'md5';
    throw new ImageDownloadFatalError(
      imageId,
      `Unable to proceed with image ${imageId} as the checksum indicator has been used but the algorithm could not be identified. Error: ${MD5_DISABLED}`,
    );
  }
  throw new ImageDownloadFatalError(
    imageId,
    `cannot tell the checksum algorithm of ${digest}: unknown length ${len} (expected 64 hex digits for SHA-256 or 128 for SHA-512)`,
  );
}

/** hashlib spellings whose node:crypto name differs beyond `_` → `-`. */
const HASHLIB_TO_NODE: Record<string, string> = { blake2b: 'blake2b512', blake2s: 'blake2s256' };

/**
 * node:crypto's name for a hashlib/Glance algorithm name if node:crypto can
 * hash with it ("SHA256" → "sha256", "sha3_512" → "sha3-512", "blake2b" →
 * "blake2b512", "sha512_256" → "sha512-256"), else null. The SHAKE
 * functions are refused: their digest length is not fixed (hashlib's
 * hexdigest needs one), so no os_hash_value can name it.
 */
export function supportedHashAlgo(name: string): string | null {
  let n = name.trim().toLowerCase().replace(/^sha-/, 'sha').replace(/_/g, '-');
  n = HASHLIB_TO_NODE[n] ?? n;
  if (n === '' || n.startsWith('shake')) return null;
  return crypto().getHashes().includes(n) ? n : null;
}

/** Algorithms a `checksum` value may name as a prefix ("sha256:<hex>"). */
const CHECKSUM_PREFIX = /^(md5|sha256|sha512):(.+)$/i;

/**
 * Split a `checksum` field "algo:value" (md5, sha256, sha512) into its parts;
 * a URL or a bare digest comes back with algo null.
 */
export function splitChecksumPrefix(checksum: string): { algo: string | null; value: string } {
  const c = checksum.trim();
  if (isUrl(c)) return { algo: null, value: c };
  const m = CHECKSUM_PREFIX.exec(c);
  return m ? { algo: m[1]!.toLowerCase(), value: m[2]!.trim() } : { algo: null, value: c };
}

/** Pick the checksum source image_info offers, in IPA's order of preference. */
export function selectChecksumSource(info: Record<string, unknown>, md5Enabled: boolean): ChecksumSource {
  const id = String(info.id ?? '');
  const osAlgo = typeof info.os_hash_algo === 'string' ? supportedHashAlgo(info.os_hash_algo) : null;
  const osValue = typeof info.os_hash_value === 'string' ? info.os_hash_value.trim() : '';
  if (osAlgo && osValue) {
    if (osAlgo === 'md5' && !md5Enabled) {
      throw new ImageDownloadFatalError(id, `Unable to proceed with image ${id}: os_hash_algo is md5. ${MD5_DISABLED}`);
    }
    return isUrl(osValue) ? { kind: 'url', url: osValue, algo: osAlgo } : { kind: 'value', algo: osAlgo, value: osValue.toLowerCase() };
  }
  const raw = typeof info.checksum === 'string' ? info.checksum.trim() : '';
  if (!raw) {
    const algoNote =
      typeof info.os_hash_algo === 'string' && !osAlgo ? ` (os_hash_algo '${info.os_hash_algo}' is not supported by this agent)` : '';
    throw new ImageDownloadFatalError(id, `image_info has neither a usable os_hash_algo/os_hash_value pair nor a checksum${algoNote}`);
  }
  const { algo: prefixAlgo, value: checksum } = splitChecksumPrefix(raw);
  if (prefixAlgo) {
    if (prefixAlgo === 'md5' && !md5Enabled) {
      throw new ImageDownloadFatalError(id, `Unable to proceed with image ${id}: checksum is an md5 digest. ${MD5_DISABLED}`);
    }
    return isUrl(checksum)
      ? { kind: 'url', url: checksum, algo: prefixAlgo }
      : { kind: 'value', algo: prefixAlgo, value: checksum.toLowerCase() };
  }
  if (isUrl(checksum)) return { kind: 'url', url: checksum, algo: null };
  return { kind: 'value', algo: inferHashAlgo(checksum, md5Enabled, id), value: checksum.toLowerCase() };
}

/** Basename of a URL's path ("http://h/a/b.img?x" → "b.img"). */
export function urlBasename(url: string): string {
  const p = new URL(url).pathname;
  return decodeURIComponent(p.slice(p.lastIndexOf('/') + 1));
}

const HEX = /^[0-9a-fA-F]+$/;

/**
 * Find the digest for `fileName` in a checksums file: a lone digest, or
 * `HASH  name`, `HASH *name`, `name HASH`, `ALG (name) = HASH`; `#` lines skipped.
 * A line naming exactly `fileName` (IPA's match: whitespace or `*` right
 * before it; `./` tolerated) wins; only when none does, a line naming it in
 * a directory (`HASH  sub/name`) is taken, the first such line.
 * Returns null when nothing matches.
 */
export function parseChecksumFile(text: string, fileName: string): string | null {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 1 && !/\s/.test(lines[0]!) && HEX.test(lines[0]!)) return lines[0]!.toLowerCase();
  const entries: { name: string; digest: string }[] = [];
  for (const line of lines) {
    const bsd = /^[A-Za-z0-9-]+\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/.exec(line);
    if (bsd) {
      entries.push({ name: entryName(bsd[1]!), digest: bsd[2]! });
      continue;
    }
    const m = /^(\S+)\s+(.+)$/.exec(line);
    if (!m) continue;
    const [a, b] = [m[1]!, m[2]!.trim()];
    if (HEX.test(a)) entries.push({ name: entryName(b), digest: a });
    if (HEX.test(b)) entries.push({ name: entryName(a), digest: b });
  }
  const found = entries.find((e) => e.name === fileName) ?? entries.find((e) => e.name.slice(e.name.lastIndexOf('/') + 1) === fileName);
  return found ? found.digest.toLowerCase() : null;
}

/** GNU coreutils marks binary mode with '*' and some tools write "./name". */
function entryName(name: string): string {
  return name.trim().replace(/^\*/, '').replace(/^\.\//, '');
}

/** Turn a source into algo + digest, fetching the checksums file when it is a URL. */
export async function resolveChecksum(
  src: ChecksumSource,
  info: Record<string, unknown>,
  md5Enabled: boolean,
  fetchText: (url: string) => Promise<string>,
): Promise<ResolvedChecksum> {
  if (src.kind === 'value') return { algo: src.algo, value: src.value };
  const id = String(info.id ?? '');
  const urls = info.urls as string[];
  const fileName = urlBasename(urls[0]!);
  const text = await fetchText(src.url);
  const digest = parseChecksumFile(text, fileName);
  if (!digest) {
    throw new ImageDownloadFatalError(
      id,
      `cannot find a checksum for image ${fileName} in ${src.url}; the file must hold a lone digest or a line naming ${fileName}`,
    );
  }
  return { algo: src.algo ?? inferHashAlgo(digest, md5Enabled, id), value: digest };
}
