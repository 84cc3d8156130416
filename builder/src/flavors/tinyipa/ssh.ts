/**
 * tinyipa's SSH server, only when the spec gives authorized keys: Debian's
 * dropbear (dropbear-bin: with its libraries 1.5 MiB unpacked, 0.5 MiB
 * in the zstd initramfs), started by busybox init. Host keys are never
 * baked into the image: dropbear -R makes each one the first time a
 * client asks for that type, so every boot of the same image has its own.
 */
import type { Tree } from '../../tree/tree.js';

export const SSH_PACKAGES = ['dropbear-bin'];
export const SSH_PROGRAMS = ['dropbear'];
const HOST_KEY_DIR = 'etc/dropbear';

/**
 * -F foreground (init restarts it), -E log to the console, -R host keys
 * generated on demand into /etc/dropbear, -s no password logins (root has
 * no password: keys only), -P the pid file under /run.
 */
export const DROPBEAR_INITTAB = '::respawn:/usr/sbin/dropbear -F -E -R -s -P /run/dropbear.pid';

export function addSshServer(tree: Tree, mtime: number): void {
  tree.addDir(HOST_KEY_DIR, { mode: 0o700, mtime, layer: 'tinyipa-ssh' });
}
