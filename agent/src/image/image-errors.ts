/**
 * Download errors IPA has and agent/src/errors.ts does not: they keep IPA's
 * class names (the conductor shows `type` in last_error) and carry a flag the
 * retry loops read, so "retry or not" is decided where the error is raised.
 */
import { AgentError, ImageDownloadError } from '../errors.js';

/** A download failure that must not be retried (4xx, bad checksum file). */
export class ImageDownloadFatalError extends ImageDownloadError {
  readonly fatal = true;
}

/** image_download_max_duration exceeded (IPA answers 408 for it). */
export class ImageDownloadTimeoutError extends AgentError {
  readonly fatal = true;
  constructor(imageId: string, seconds: number) {
    super(
      'Image download timed out',
      `Download of image ${imageId} did not finish within ${seconds} s (image_download_max_duration); raise ipa-image-download-max-duration or use a faster image server`,
      408,
    );
  }
}

/** The target ran out of space: retrying cannot help. */
export class ImageDownloadOutOfSpaceError extends AgentError {
  readonly fatal = true;
  constructor(imageId: string, target: string) {
    super(
      'No space left on device',
      `Writing image ${imageId} to ${target} failed: no space left on device (ENOSPC); the image is larger than the target — use a bigger disk, or a streamable raw image instead of one cached in /tmp`,
      500,
    );
  }
}

/** True when an error says "do not retry". */
export function isFatalError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { fatal?: unknown }).fatal === true;
}
