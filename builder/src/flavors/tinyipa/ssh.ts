/**
 * tinyipa's SSH server, when the spec gives authorized keys or keeps rescue
 * on (the default, as IPA's images: rescue needs an SSH server to hand the
 * node to the rescue user; docs/rescue.md): Debian's dropbear (dropbear-bin:
 * with its libraries 1.5 MiB unpacked, 0.5 MiB in the zstd initramfs). Host
 * keys are never baked into the image: dropbear -R makes each one the first
 * time a client asks for that type, so every boot of the same image has its
 * own.
 *
 * busybox init respawns /usr/sbin/ramforge-sshd (rootfs/), which picks the
 * mode: keys only for root until rescue, passwords too after it, and no
 * server at all (an idle slot) while there are neither keys nor a rescue.
 */
import type { Tree } from '../../tree/tree.js';

export const SSH_PACKAGES = ['dropbear-bin'];
export const SSH_PROGRAMS = ['dropbear'];
const HOST_KEY_DIR = 'etc/dropbear';
/** Where the agent writes the rescue password hash (IPA's path); its absence means "built without rescue". */
const RESCUE_CONFIG_DIR = 'etc/ipa-rescue-config';
/** The rootfs scripts that only a ramdisk with rescue support ships. */
const RESCUE_FILES = ['usr/sbin/ramforge-rescue'];

export const SSHD_INITTAB = '::respawn:/usr/sbin/ramforge-sshd';

/** The image has an SSH server when root has keys or the rescue user may need one. */
export function wantsSsh(spec: { ssh: { authorizedKeys: string[] }; rescue: boolean }): boolean {
  return spec.ssh.authorizedKeys.length > 0 || spec.rescue;
}

export function addSshServer(tree: Tree, mtime: number): void {
  tree.addDir(HOST_KEY_DIR, { mode: 0o700, mtime, layer: 'tinyipa-ssh' });
}

/** Rescue support on: the directory the agent writes into. Off: the hand-over script goes, so the agent refuses rescue. */
export function applyRescueSupport(tree: Tree, rescue: boolean, mtime: number): void {
  if (rescue) tree.addDir(RESCUE_CONFIG_DIR, { mode: 0o700, mtime, layer: 'tinyipa' });
  else for (const f of RESCUE_FILES) tree.remove(f);
}
