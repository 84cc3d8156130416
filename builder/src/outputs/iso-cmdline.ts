/**
 * The kernel command line written into both boot configs (isolinux.cfg and
 * grub.cfg), validated once so neither config can be broken by user input.
 */
import { UserError } from '../errors.js';

/**
 * x86 COMMAND_LINE_SIZE is 2048 bytes including the NUL; ISOLINUX adds
 * `initrd=/initrd` (and BOOT_IMAGE=) to what we write, so keep headroom.
 */
export const MAX_CMDLINE_BYTES = 1900;

/** Ironic sets this for virtual media; IPA reads it to find its config drive. */
export const VMEDIA_ARG = 'boot_method=vmedia';

/**
 * `boot_method=vmedia` followed by the user's arguments, normalised to single
 * spaces. A user-supplied boot_method= wins and ours is left out, so the
 * line never carries two contradicting values.
 */
export function buildVmediaCmdline(append: string | undefined): string {
  const extra = append ?? '';
  // Control characters would end the APPEND line in isolinux.cfg and inject config lines.
  if (/[\u0000-\u001f\u007f]/.test(extra)) {
    throw new UserError(`kernel arguments contain a control character (newline or tab): ${JSON.stringify(extra)}`, {
      hint: 'pass the arguments on one line separated by spaces',
    });
  }
  // GRUB 2.06 backslash-escapes these when it builds the Linux command line
  // (grub_create_loader_cmdline), ISOLINUX passes them as they are: the kernel
  // would see different arguments on UEFI and BIOS, so refuse them.
  const bad = extra.match(/["'\\]/);
  if (bad) {
    throw new UserError(`kernel arguments contain ${bad[0]}, which the UEFI boot path (GRUB) cannot pass on unchanged: ${extra}`, {
      hint: 'remove quotes and backslashes from the kernel arguments (values with spaces cannot be passed on an ISO)',
    });
  }
  const words = extra.split(/\s+/).filter(Boolean);
  const own = words.some((w) => w.startsWith('boot_method=')) ? [] : [VMEDIA_ARG];
  const cmdline = [...own, ...words].join(' ');
  if (Buffer.byteLength(cmdline) > MAX_CMDLINE_BYTES) {
    throw new UserError(`kernel command line is ${Buffer.byteLength(cmdline)} bytes; the limit is ${MAX_CMDLINE_BYTES}`, {
      hint: 'shorten the appended kernel arguments (x86 kernels truncate the command line at 2048 bytes)',
    });
  }
  return cmdline;
}
