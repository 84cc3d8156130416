/**
 * ramforge's own container host for the coreos flavor (the default when no
 * coreos.base is given): a minimal Debian with systemd, buildable
 * everywhere, that behaves like CoreOS where IPA's cloud-config relies on
 * it: networkd DHCP on every wired NIC, a `core` user with passwordless
 * sudo, sshd with host keys made at boot, `sshkey=` on the kernel command
 * line, /usr/bin/update-ssh-keys, and a cloud-config runner
 * (runner/, coreos-cloudinit.service) reading /usr/share/oem/cloud-config.yml.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Tree } from '../../tree/tree.js';
import { DEFAULT_PRUNE, DEFAULT_PRUNE_KEEP } from '../../debian/extract.js';

/** Debian packages of the host (on mmdebstrap's minbase). */
export const HOST_PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'openssh-server', 'sudo', 'passwd', 'kmod', 'iproute2', 'procps'];

const HOST_FILES = fileURLToPath(new URL('./host/', import.meta.url));
const LAYER = 'coreos-host';
export const CORE_UID = 500;

const WIRED_NETWORK = `# ramforge coreos host: DHCP on every wired NIC (as CoreOS's zz-default.network)
[Match]
Type=ether
Name=!veth* docker*

[Network]
DHCP=yes
`;

const SSH_KEYGEN_UNIT = `[Unit]
Description=SSH host keys, made at boot (never shipped in the image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
`;

const SSHKEY_UNIT = `[Unit]
Description=sshkey= from the kernel command line for the core user
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/lib/ramforge/sshkey-from-cmdline
`;

const SSH_DROPIN = `[Unit]
Wants=ramforge-ssh-keygen.service ramforge-sshkey.service
After=ramforge-ssh-keygen.service ramforge-sshkey.service
`;

const CLOUDINIT_UNIT = `[Unit]
Description=Run /usr/share/oem/cloud-config.yml (ramforge coreos-cloudinit)
After=local-fs.target systemd-networkd.service
Wants=systemd-networkd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/ramforge/coreos-cloudinit --from-file /usr/share/oem/cloud-config.yml

[Install]
WantedBy=multi-user.target
`;

/** Shape the Debian rootfs (already merged into the tree) into the container host. */
export async function shapeHostOs(tree: Tree, opts: { mtime: number; runner: Buffer; name: string }): Promise<void> {
  const { mtime } = opts;
  const attrs = { mtime, layer: LAYER };
  const file = (path: string, text: string | Buffer, mode = 0o644) =>
    tree.addFile(path, Buffer.isBuffer(text) ? text : Buffer.from(text), { ...attrs, mode });
  tree.prune([...DEFAULT_PRUNE], { keep: [...DEFAULT_PRUNE_KEEP] });
  // Host keys are per boot (ramforge-ssh-keygen.service), never shared by every node of a site.
  for (const e of tree.entries()) if (/^etc\/ssh\/ssh_host_.*_key(\.pub)?$/.test(e.path)) tree.remove(e.path);

  tree.addSymlink('init', '/sbin/init', attrs);
  // CoreOS's paths, which IPA's cloud-config names: Debian has chroot in /usr/sbin.
  if (!tree.has('usr/bin/chroot')) tree.addSymlink('usr/bin/chroot', '/usr/sbin/chroot', attrs);
  file('etc/hostname', 'localhost\n');
  file('etc/hosts', '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n');
  file('etc/machine-id', '');
  file('etc/fstab', '# ramforge coreos host: everything lives in the initramfs\n');
  file('etc/systemd/network/50-wired.network', WIRED_NETWORK);
  const wants = (target: string, unit: string, dir = '/usr/lib/systemd/system') =>
    tree.addSymlink(`etc/systemd/system/${target}.wants/${unit}`, `${dir}/${unit}`, attrs);
  wants('multi-user.target', 'systemd-networkd.service');
  wants('sockets.target', 'systemd-networkd.socket');
  wants('multi-user.target', 'ssh.service');
  file('etc/systemd/system/ramforge-ssh-keygen.service', SSH_KEYGEN_UNIT);
  file('etc/systemd/system/ramforge-sshkey.service', SSHKEY_UNIT);
  file('etc/systemd/system/ssh.service.d/ramforge.conf', SSH_DROPIN);
  file('etc/systemd/system/coreos-cloudinit.service', CLOUDINIT_UNIT);
  wants('multi-user.target', 'coreos-cloudinit.service', '/etc/systemd/system');

  for (const f of ['update-ssh-keys']) file(`usr/bin/${f}`, await readFile(join(HOST_FILES, f)), 0o755);
  for (const f of ['sshkey-from-cmdline', 'coreos-cloudinit']) file(`usr/lib/ramforge/${f}`, await readFile(join(HOST_FILES, f)), 0o755);
  file('usr/lib/ramforge/coreos-cloudinit.mjs', opts.runner);

  await addCoreUser(tree, mtime);
  file('etc/ramforge-release', `NAME=${opts.name}\nFLAVOR=coreos\n`);
}

/** `core` (uid 500, as on CoreOS) in sudo with no password; key login only. */
async function addCoreUser(tree: Tree, mtime: number): Promise<void> {
  const attrs = { mtime, layer: LAYER };
  const text = async (path: string) => {
    const e = tree.get(path);
    if (!e) return '';
    return e.data ? e.data.toString() : await readFile(e.source as string, 'utf8');
  };
  const days = Math.floor(mtime / 86400);
  const passwd = await text('etc/passwd');
  if (!/^core:/m.test(passwd)) {
    tree.addFile('etc/passwd', Buffer.from(`${passwd}core:x:${CORE_UID}:${CORE_UID}:CoreOS Admin:/home/core:/bin/bash\n`), {
      ...attrs,
      mode: 0o644,
    });
    const group = (await text('etc/group')).replace(/^sudo:x:27:(.*)$/m, (_, m: string) => `sudo:x:27:${m ? `${m},` : ''}core`);
    tree.addFile('etc/group', Buffer.from(`${group}core:x:${CORE_UID}:\n`), { ...attrs, mode: 0o644 });
    // '*': no password, but not locked ('!'), so sshd lets keys in.
    tree.addFile('etc/shadow', Buffer.from(`${await text('etc/shadow')}core:*:${days}:0:99999:7:::\n`), { ...attrs, mode: 0o640, gid: 42 });
  }
  tree.addFile('etc/sudoers.d/core', Buffer.from('core ALL=(ALL) NOPASSWD: ALL\n'), { ...attrs, mode: 0o440 });
  tree.addDir('home/core', { ...attrs, mode: 0o755, uid: CORE_UID, gid: CORE_UID });
  tree.addDir('home/core/.ssh', { ...attrs, mode: 0o700, uid: CORE_UID, gid: CORE_UID });
}

/** Merge the Debian rootfs tarball (mmdebstrap) into the tree. */
export function mergeHostRootfs(tree: Tree, tarball: string): Promise<void> {
  return tree.mergeTar(createReadStream(tarball), { layer: 'debian-base' });
}
