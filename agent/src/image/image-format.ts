/**
 * Image format detection from the file header and the safety checks of
 * IPA master's get_and_validate_image_format (bug 2071740): the format the
 * bytes say must be permitted and must match disk_format, and a qcow2 may
 * not point at other files (backing file, external data file).
 */
import { open } from 'node:fs/promises';
import { InvalidImage } from '../errors.js';

export type DetectedFormat = 'raw' | 'gpt' | 'qcow2' | 'vmdk' | 'vdi' | 'vhdx' | 'vpc' | 'luks';

export const PERMITTED_FORMATS: readonly DetectedFormat[] = ['raw', 'gpt', 'qcow2'];

/**
 * What Ironic's lookup says about images (newer conductors send both; IPA
 * master sets them over its config): `permitted_image_formats` narrows what
 * is written: a format the agent permits but the list leaves out is refused.
 * It does not widen it: the agent writes raw, gpt and qcow2 only, the formats
 * whose safety it checks (a VMDK's descriptor, a VHDX's parent locator can
 * make qemu-img read other files), so vmdk & co. stay refused, saying so.
 * `disable_deep_image_inspection` is not followed: the checks are cheap
 * and they are what keeps qemu-img off a hostile image.
 */
export interface ImageFormatPolicy {
  permitted?: readonly string[];
}

/** The lookup config's image settings (state.lookupConfig), as prepare_image uses them. */
export function imageFormatPolicy(lookupConfig: Readonly<Record<string, unknown>>): ImageFormatPolicy {
  const p = lookupConfig.permitted_image_formats;
  const list = Array.isArray(p) ? p : typeof p === 'string' ? p.split(',') : undefined;
  const permitted = list?.map((f) => String(f).trim().toLowerCase()).filter(Boolean);
  return permitted?.length ? { permitted } : {};
}

/** Is `detected` allowed by the agent and by the operator's list (gpt is a raw disk image: allowed where raw is)? */
function permittedByPolicy(detected: DetectedFormat, policy: ImageFormatPolicy): string | null {
  const list = policy.permitted;
  if (!PERMITTED_FORMATS.includes(detected))
    return (
      `Image format ${detected} is not permitted (permitted: ${PERMITTED_FORMATS.join(', ')}); convert the image to raw or qcow2` +
      (list?.includes(detected)
        ? ` (Ironic's permitted_image_formats lists ${detected}, but this agent writes only the formats whose safety it checks)`
        : '')
    );
  if (!list || list.includes(detected) || (detected === 'gpt' && list.includes('raw'))) return null;
  return `Image format ${detected} is not in Ironic's permitted_image_formats (${list.join(', ')}); convert the image or change [conductor]permitted_image_formats`;
}

/** Format from magic numbers; anything unrecognised is raw (as format_inspector does). */
export function detectImageFormat(head: Buffer): DetectedFormat {
  const at = (off: number, s: string): boolean =>
    head.length >= off + s.length && head.subarray(off, off + s.length).toString('latin1') === s;
  if (at(0, 'QFI\xfb')) return 'qcow2';
  if (at(0, 'KDMV')) return 'vmdk';
  if (at(0, 'vhdxfile')) return 'vhdx';
  if (at(0, 'conectix')) return 'vpc';
  if (at(0, 'LUKS\xba\xbe')) return 'luks';
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return 'vdi';
  // Protective MBR: partition type 0xEE in the first entry plus the boot signature.
  if (head.length >= 512 && head[450] === 0xee && head[510] === 0x55 && head[511] === 0xaa) return 'gpt';
  return 'raw';
}

/** Reasons a qcow2 header is unsafe to hand to qemu-img, or null. */
export function checkQcow2Safety(head: Buffer): string | null {
  if (head.length < 104) return 'qcow2 header is truncated';
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) return `unsupported qcow2 version ${version}`;
  if (head.readBigUInt64BE(8) !== 0n) return 'qcow2 image has a backing file';
  // Incompatible feature bit 2: the data lives in an external file.
  if (version === 3 && (head.readBigUInt64BE(72) & 0b100n) !== 0n) return 'qcow2 image uses an external data file';
  return null;
}

export async function readImageHead(path: string, size = 4096): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The qemu-img input format for a downloaded image, after checking it
 * against disk_format. raw/gpt are trusted as raw bytes.
 */
export async function validateImageFormat(
  path: string,
  diskFormat: string | undefined,
  policy: ImageFormatPolicy = {},
): Promise<'raw' | 'qcow2'> {
  const head = await readImageHead(path);
  const detected = detectImageFormat(head);
  const refused = permittedByPolicy(detected, policy);
  if (refused) throw new InvalidImage(refused);
  const declared = (diskFormat ?? '').toLowerCase();
  const rawLike = detected === 'raw' || detected === 'gpt';
  if (declared && !(declared === detected || (declared === 'raw' && rawLike))) {
    throw new InvalidImage(
      `Image disk_format is ${declared} but its content is ${detected}; fix the image's disk_format in Glance/instance_info`,
    );
  }
  if (detected === 'qcow2') {
    const why = checkQcow2Safety(head);
    if (why) throw new InvalidImage(`Image is unsafe: ${why}; flatten it with qemu-img convert first`);
    return 'qcow2';
  }
  return 'raw';
}
