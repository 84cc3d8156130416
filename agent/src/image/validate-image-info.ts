/** IPA's standby._validate_image_info: reject unusable image_info with 400 before any work. */
import { InvalidCommandParamsError } from '../errors.js';
import { isUrl, MD5_DISABLED, splitChecksumPrefix, supportedHashAlgo } from './checksum.js';

/** Throws InvalidCommandParamsError (the API answers 400) when image_info cannot be deployed. */
export function validateImageInfo(imageInfo: Record<string, unknown>, md5Enabled: boolean): void {
  const missing = ['id', 'urls'].filter((k) => imageInfo[k] === undefined || imageInfo[k] === null);
  if (missing.length) throw new InvalidCommandParamsError(`Image is missing the following parameters: ${missing.join(', ')}`);
  const urls = imageInfo.urls;
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && u !== '')) {
    throw new InvalidCommandParamsError("Image 'urls' must be a list with at least one element.");
  }
  // IPA takes image_info's configdrive when the command has none; anything but a string was dropped: a deploy without it.
  const cd = imageInfo.configdrive;
  if (cd !== undefined && cd !== null && typeof cd !== 'string') {
    throw new InvalidCommandParamsError(
      `Image image_info.configdrive must be a string (a base64 gzipped ISO or a URL), got ${Array.isArray(cd) ? 'a list' : typeof cd}`,
    );
  }
  // IPA (ImageDownload) hashes with os_hash_algo when hashlib has it and otherwise falls back to
  // `checksum`; only when neither is usable is the image refused, naming the field at fault.
  const algo = typeof imageInfo.os_hash_algo === 'string' ? imageInfo.os_hash_algo : '';
  const value = typeof imageInfo.os_hash_value === 'string' ? imageInfo.os_hash_value : '';
  let unsupportedAlgo = '';
  if (algo && value) {
    const norm = supportedHashAlgo(algo);
    if (norm === 'md5' && !md5Enabled) throw new InvalidCommandParamsError(`Image os_hash_algo is md5. ${MD5_DISABLED}`);
    if (norm) return;
    unsupportedAlgo = algo;
  }
  const checksum = imageInfo.checksum;
  if (typeof checksum !== 'string' || checksum.trim() === '') {
    if (unsupportedAlgo) {
      throw new InvalidCommandParamsError(
        `Image os_hash_algo '${unsupportedAlgo}' is not supported by the agent and no 'checksum' was sent to fall back to; ` +
          'use e.g. sha256, sha512, sha3_512 or blake2b, or send a checksum',
      );
    }
    throw new InvalidCommandParamsError("Image checksum is not provided: set 'checksum' or both 'os_hash_algo' and 'os_hash_value'");
  }
  const why = unsupportedAlgo ? ` (os_hash_algo '${unsupportedAlgo}' is not supported by the agent, so 'checksum' is used)` : '';
  const { algo: prefixAlgo, value: c } = splitChecksumPrefix(checksum);
  if (isUrl(c)) return;
  if (!/^[0-9a-fA-F]+$/.test(c))
    throw new InvalidCommandParamsError(`Image checksum '${c}' is neither a hex digest nor an http(s) URL${why}`);
  if (prefixAlgo === 'md5' || (!prefixAlgo && c.length === 32)) {
    if (md5Enabled) return;
    throw new InvalidCommandParamsError(`Image checksum is not available: 'checksum' is an MD5 digest${why}. ${MD5_DISABLED}`);
  }
  if (!prefixAlgo && c.length <= 32) throw new InvalidCommandParamsError(`Image checksum '${c}' is too short to be a digest${why}`);
}
