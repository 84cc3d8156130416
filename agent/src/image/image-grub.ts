/**
 * The CVE-2026-43003 mitigation (IPA's enable_bios_bootloader_install, Ironic's
 * [agent]enable_bios_bootloader_install, both off by default): the deployed
 * image's own GRUB, run as root in the ramdisk from a chroot of its root
 * (grub-install, grub-mkconfig), is what a partition image's boot setup and
 * software RAID without a loader on the image's ESP need. Off, those fail
 * with InvalidImage, as IPA's install_bootloader does.
 */
import { InvalidImage } from '../errors.js';

/** IPA's message, with how to allow it. */
export const IMAGE_GRUB_DISABLED =
  'Install of legacy BIOS bootloaders disabled by CONF.enable_bios_bootloader_install as part of CVE-2026-43003 mitigation ' +
  "(the deployed image's grub-install would run in the ramdisk): set [agent]enable_bios_bootloader_install in Ironic, or " +
  'ipa-enable-bios-bootloader-install=1 for the agent, to allow it; or deploy a whole-disk image with its own loader';

/** Throws InvalidImage unless the image's GRUB may run. */
export function requireImageGrub(allowed: boolean): void {
  if (!allowed) throw new InvalidImage(IMAGE_GRUB_DISABLED);
}

/**
 * Whether it may run: the agent's own option, or the lookup's
 * enable_bios_bootloader_install when true (IPA overrides its option only
 * with a true value, so a conductor's false leaves a ramdisk built to allow it
 * allowed).
 */
export function imageGrubAllowed(configured: boolean, lookup: Record<string, unknown>): boolean {
  return configured || lookup.enable_bios_bootloader_install === true;
}
