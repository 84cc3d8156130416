import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  inferHashAlgo,
  parseChecksumFile,
  resolveChecksum,
  selectChecksumSource,
  splitChecksumPrefix,
  supportedHashAlgo,
} from './checksum.js';
import { createHash } from 'node:crypto';
import { validateImageInfo } from './validate-image-info.js';
import { isMd5Enabled } from './run-prepare-image.js';
import { createDefaultConfig } from '../config.js';
import type { AgentState } from '../state.js';

const S256 = 'a'.repeat(64);
const S512 = 'b'.repeat(128);
const MD5 = 'c'.repeat(32);
/** AgentErrors carry the useful text in `details`. */
const has =
  (re: RegExp) =>
  (e: unknown): boolean =>
    re.test(`${(e as Error).message} ${(e as { details?: string }).details ?? ''}`);
const base = { id: 'img', urls: ['http://h/dir/disk.img?sig=1'] };

test('algorithm from digest length; md5 only when enabled', () => {
  assert.equal(inferHashAlgo(S256, false), 'sha256');
  assert.equal(inferHashAlgo(S512, false), 'sha512');
  assert.equal(inferHashAlgo(MD5, true), 'md5');
  assert.throws(() => inferHashAlgo(MD5, false), has(/MD5/));
  assert.throws(() => inferHashAlgo('abc', true), has(/unknown length 3/));
});

test('os_hash_algo/os_hash_value wins over checksum', () => {
  const s = selectChecksumSource({ ...base, os_hash_algo: 'sha512', os_hash_value: S512.toUpperCase(), checksum: S256 }, false);
  assert.deepEqual(s, { kind: 'value', algo: 'sha512', value: S512 });
});

test('os_hash_value may be a URL', () => {
  const s = selectChecksumSource({ ...base, os_hash_algo: 'sha256', os_hash_value: 'https://h/SHA256SUMS' }, false);
  assert.deepEqual(s, { kind: 'url', url: 'https://h/SHA256SUMS', algo: 'sha256' });
});

test('unsupported os_hash_algo falls back to checksum', () => {
  const s = selectChecksumSource({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'x', checksum: S256 }, false);
  assert.deepEqual(s, { kind: 'value', algo: 'sha256', value: S256 });
});

test('checksum URL and plain checksum', () => {
  assert.deepEqual(selectChecksumSource({ ...base, checksum: 'http://h/sums' }, false), { kind: 'url', url: 'http://h/sums', algo: null });
  assert.deepEqual(selectChecksumSource({ ...base, checksum: MD5 }, true), { kind: 'value', algo: 'md5', value: MD5 });
  assert.throws(() => selectChecksumSource({ ...base }, true), has(/neither/));
});

test('checksum file: every line format', () => {
  assert.equal(parseChecksumFile(`${S256}\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`# comment\n${S512}  other.img\n${S256}  disk.img\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`${S256} *disk.img\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`disk.img ${S256}\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`SHA256 (disk.img) = ${S256}\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`${S256}  ./sub/disk.img\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`# ${S256}  disk.img\n${S512}  other.img\n`, 'disk.img'), null);
  assert.equal(parseChecksumFile(`${S256}  disk.img.bak\n`, 'disk.img'), null);
});

test('checksum file: the exact name wins over the same name in a directory, whatever the order', () => {
  assert.equal(parseChecksumFile(`${S512}  amd64/disk.img\n${S256}  disk.img\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`${S512}  amd64/disk.img\n${S256} *./disk.img\n`, 'disk.img'), S256);
  assert.equal(parseChecksumFile(`SHA512 (amd64/disk.img) = ${S512}\nSHA256 (disk.img) = ${S256}\n`, 'disk.img'), S256);
  // No exact line: the first directory-qualified one, as before.
  assert.equal(parseChecksumFile(`${S512}  other.img\n${S256}  amd64/disk.img\n${MD5}  arm64/disk.img\n`, 'disk.img'), S256);
});

test('resolveChecksum fetches the file and infers the algorithm', async () => {
  const info = { ...base, checksum: 'http://h/sums' };
  const r = await resolveChecksum(selectChecksumSource(info, false), info, false, async () => `${S512}  disk.img\n`);
  assert.deepEqual(r, { algo: 'sha512', value: S512 });
  await assert.rejects(
    resolveChecksum(selectChecksumSource(info, false), info, false, async () => `${S512}  x.img\n`),
    has(/cannot find a checksum for image disk.img/),
  );
  const md5info = { ...base, checksum: 'http://h/sums' };
  await assert.rejects(
    resolveChecksum(selectChecksumSource(md5info, false), md5info, false, async () => MD5),
    has(/MD5/),
  );
});

test('validateImageInfo: 400 for missing fields and unusable checksums', () => {
  assert.throws(() => validateImageInfo({ urls: ['u'], checksum: S256 }, false), has(/missing the following parameters: id/));
  assert.throws(() => validateImageInfo({ id: 'i', urls: [], checksum: S256 }, false), has(/at least one/));
  assert.throws(() => validateImageInfo({ ...base }, false), has(/checksum is not provided/));
  assert.throws(() => validateImageInfo({ ...base, checksum: MD5 }, false), has(/MD5/));
  assert.throws(() => validateImageInfo({ ...base, checksum: 'abcd' }, true), has(/too short/));
  assert.throws(() => validateImageInfo({ ...base, os_hash_algo: 'md5', os_hash_value: MD5 }, false), has(/MD5 support is disabled/));
  for (const ok of [{ checksum: S256 }, { checksum: 'https://h/s' }, { os_hash_algo: 'sha256', os_hash_value: S256 }]) {
    validateImageInfo({ ...base, ...ok }, false);
  }
  validateImageInfo({ ...base, checksum: MD5 }, true);
  try {
    validateImageInfo({ urls: ['u'] }, false);
  } catch (e) {
    assert.equal((e as { code: number }).code, 400);
  }
});

test('validateImageInfo: an image_info.configdrive that is not a string is refused (it was dropped: a deploy without it)', () => {
  for (const configdrive of [{ user_data: 'x' }, 42, ['x'], false]) {
    assert.throws(
      () => validateImageInfo({ ...base, checksum: S256, configdrive }, false),
      has(/image_info\.configdrive must be a string/),
    );
  }
  for (const configdrive of [null, undefined, 'H4sI', 'http://h/cd']) validateImageInfo({ ...base, checksum: S256, configdrive }, false);
});

test('MD5 is on by default (IPA md5_enabled, Ironic <= 2023.1 sends no agent_md5_checksum_enable); lookup then config decide', () => {
  const ctx = (lookup: Record<string, unknown>, md5Enabled?: boolean) => {
    const config = createDefaultConfig();
    if (md5Enabled !== undefined) config.md5Enabled = md5Enabled;
    return { config, state: { lookupConfig: lookup } as unknown as AgentState };
  };
  assert.equal(createDefaultConfig().md5Enabled, true);
  assert.equal(isMd5Enabled(ctx({})), true);
  assert.equal(isMd5Enabled(ctx({ agent_md5_checksum_enable: false })), false);
  assert.equal(isMd5Enabled(ctx({}, false)), false);
  assert.equal(isMd5Enabled(ctx({ agent_md5_checksum_enable: true }, false)), true);
  assert.equal(isMd5Enabled(ctx({ agent_md5_checksum_enable: false }, true)), false);
});

test('checksum selection matrix: md5 on/off x checksum kinds x os_hash pair', async () => {
  const sums = async (url: string): Promise<string> => (url.endsWith('md5') ? `${MD5}  disk.img\n` : `${S256} *disk.img\n`);
  const pick = async (info: Record<string, unknown>, md5: boolean) => {
    const full = { ...base, ...info };
    validateImageInfo(full, md5);
    return resolveChecksum(selectChecksumSource(full, md5), full, md5, sums);
  };
  // MD5 accepted when enabled: a plain digest (any case) and an md5sum-style file.
  assert.deepEqual(await pick({ checksum: MD5.toUpperCase() }, true), { algo: 'md5', value: MD5 });
  assert.deepEqual(await pick({ checksum: 'http://h/sums.md5' }, true), { algo: 'md5', value: MD5 });
  assert.deepEqual(await pick({ os_hash_algo: 'md5', os_hash_value: MD5 }, true), { algo: 'md5', value: MD5 });
  // SHA-256/512 from os_hash_* win over an MD5 checksum, whether or not MD5 is allowed.
  for (const md5 of [true, false]) {
    assert.deepEqual(await pick({ checksum: MD5, os_hash_algo: 'sha512', os_hash_value: S512 }, md5), { algo: 'sha512', value: S512 });
    assert.deepEqual(await pick({ checksum: MD5, os_hash_algo: 'SHA256', os_hash_value: S256 }, md5), { algo: 'sha256', value: S256 });
    assert.deepEqual(await pick({ checksum: S256 }, md5), { algo: 'sha256', value: S256 });
    assert.deepEqual(await pick({ checksum: 'http://h/sums.sha256' }, md5), { algo: 'sha256', value: S256 });
  }
  // Disabled: every way of asking for MD5 is refused with IPA's text and the way to allow it.
  const refused = /MD5 support is disabled.*agent_md5_checksum_enable/;
  await assert.rejects(pick({ checksum: MD5 }, false), has(refused));
  await assert.rejects(pick({ checksum: 'http://h/sums.md5' }, false), has(refused));
  await assert.rejects(pick({ os_hash_algo: 'md5', os_hash_value: MD5 }, false), has(refused));
  assert.throws(
    () => selectChecksumSource({ ...base, checksum: MD5 }, false),
    has(/Unable to proceed with image img.*MD5 support is disabled/),
  );
});

test('hashlib/Glance algorithm names map to node:crypto names', () => {
  const cases: [string, string | null][] = [
    ['sha256', 'sha256'],
    ['SHA512', 'sha512'],
    ['sha-256', 'sha256'],
    ['sha3_512', 'sha3-512'],
    ['sha3_256', 'sha3-256'],
    ['sha3_224', 'sha3-224'],
    ['blake2b', 'blake2b512'],
    ['blake2s', 'blake2s256'],
    ['sha512_256', 'sha512-256'],
    ['sha512_224', 'sha512-224'],
    ['md5', 'md5'],
    ['shake_128', null],
    ['nosuch', null],
    ['', null],
  ];
  for (const [name, want] of cases) {
    assert.equal(supportedHashAlgo(name), want, name);
    // What is returned must be usable by createHash.
    if (want) createHash(want).update('x').digest('hex');
  }
});

test('Glance os_hash_algo spellings are accepted by validation and selection (no 400)', () => {
  const H = createHash('sha3-512').update('x').digest('hex');
  for (const os_hash_algo of ['sha3_512', 'blake2b']) {
    const info = { ...base, os_hash_algo, os_hash_value: H, checksum: MD5 };
    validateImageInfo(info, true);
    validateImageInfo(info, false);
    assert.equal(selectChecksumSource(info, false).kind, 'value');
  }
  assert.deepEqual(selectChecksumSource({ ...base, os_hash_algo: 'sha512_256', os_hash_value: S256 }, false), {
    kind: 'value',
    algo: 'sha512-256',
    value: S256,
  });
});

test('unsupported os_hash_algo: validation falls back to checksum; refused only when nothing usable is left', () => {
  validateImageInfo({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'ab', checksum: S256 }, false);
  validateImageInfo({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'ab', checksum: 'https://h/SHA256SUMS' }, false);
  assert.throws(
    () => validateImageInfo({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'ab' }, false),
    has(/os_hash_algo 'nosuch' is not supported.*checksum/),
  );
  assert.throws(
    () => validateImageInfo({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'ab', checksum: MD5 }, false),
    has(/MD5 digest \(os_hash_algo 'nosuch'/),
  );
  assert.throws(
    () => selectChecksumSource({ ...base, os_hash_algo: 'nosuch', os_hash_value: 'ab' }, false),
    has(/'nosuch' is not supported/),
  );
});

test('checksum with an md5:/sha256:/sha512: prefix is split into algorithm and value', () => {
  assert.deepEqual(splitChecksumPrefix(`sha256:${S256}`), { algo: 'sha256', value: S256 });
  assert.deepEqual(splitChecksumPrefix(`SHA512:${S512}`), { algo: 'sha512', value: S512 });
  assert.deepEqual(splitChecksumPrefix(S256), { algo: null, value: S256 });
  assert.deepEqual(splitChecksumPrefix('http://h/sums'), { algo: null, value: 'http://h/sums' });
  validateImageInfo({ ...base, checksum: `sha256:${S256}` }, false);
  validateImageInfo({ ...base, checksum: `sha512:${S512}` }, false);
  validateImageInfo({ ...base, checksum: `md5:${MD5}` }, true);
  assert.throws(() => validateImageInfo({ ...base, checksum: `md5:${MD5}` }, false), has(/MD5/));
  assert.throws(() => validateImageInfo({ ...base, checksum: 'sha256:zz' }, false), has(/neither a hex digest/));
  assert.deepEqual(selectChecksumSource({ ...base, checksum: `sha256:${S256.toUpperCase()}` }, false), {
    kind: 'value',
    algo: 'sha256',
    value: S256,
  });
  assert.deepEqual(selectChecksumSource({ ...base, checksum: `md5:${MD5}` }, true), { kind: 'value', algo: 'md5', value: MD5 });
  assert.throws(() => selectChecksumSource({ ...base, checksum: `md5:${MD5}` }, false), has(/MD5/));
});
