/**
 * The OEM directory (/usr/share/oem) of a coreos ramdisk, apart from the
 * container: cloud-config.yml (the repository's default merged with the
 * runtime's drop-in and the site's files, checked) and authorized_keys
 * (the spec's ssh.authorizedKeys, for the core user).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../agent-bundle.js';
import { mergeCloudConfigs, parseCloudConfig, renderCloudConfig, type CloudConfig } from './cloud-config.js';

export const OEM_DIR = 'usr/share/oem';
export const DEFAULT_CLOUD_CONFIG = join(REPO_ROOT, 'cloud-config', 'cloud-config.yml');
export const AGENT_UNIT = 'ironic-python-agent.service';
/** Where the agent's container is unpacked (by the kernel on ramforge's host, by the cloud-config on a CoreOS base), as a tree path. */
export const CONTAINER_ROOT = 'opt/ironic-python-agent';

/**
 * coreos.runtime: nspawn — the agent in systemd-nspawn instead of chroot,
 * with the host's /dev bound in, /usr/share/oem at /mnt and the host's
 * /usr/lib/modules read-only (the agent's modprobe). nspawn's own
 * /sys and /proc/sys are read-only (IPA's reason to leave nspawn: sysrq,
 * mdadm and LIO write there): SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 makes them
 * writable. Binding the host's /sys instead breaks nspawn's mount of
 * /sys/fs/cgroup, and binding all of /run its /run/host mount (both seen at
 * boot), so of the host's /run only /run/udev (the udev database lsblk and
 * udevadm read) is bound, and what the agent's network_data.json needs on
 * a networkd host (agent/src/network-data.ts): /run/systemd/network
 * read-write (its 10-ramforge-<dev>.network files), /run/systemd/netif
 * read-only (how it tells networkd runs, and the links' state files it polls
 * for ADMIN_STATE=unmanaged) and /run/ramforge read-write (its
 * networkd-reload request, which ramforge-networkd-reload.path answers on
 * the host). nspawn refuses a bind whose source is missing, so
 * ExecStartPre makes the three first (networkd's tmpfiles make netif at boot
 * where networkd is installed). --console=pipe: the agent's output goes to
 * the unit's journal, and nspawn makes no pty to link as /dev/console (with
 * the host's /dev bound in, that link exists already and nspawn gave up).
 */
const NSPAWN_RUN_BINDS = ['--bind=/run/systemd/network', '--bind-ro=/run/systemd/netif', '--bind=/run/ramforge'] as const;

export const NSPAWN_OVERLAY: CloudConfig = {
  coreos: {
    units: [
      {
        name: AGENT_UNIT,
        drop_ins: [
          {
            name: '50-nspawn.conf',
            content: [
              '[Service]',
              'Environment=SYSTEMD_NSPAWN_API_VFS_WRITABLE=1',
              'ExecStart=',
              'ExecStart=/usr/bin/systemd-nspawn --quiet --keep-unit --register=no --console=pipe --capability=all -D /opt/ironic-python-agent ' +
                '--bind=/dev --bind=/dev/pts --bind=/run/udev ' +
                `${NSPAWN_RUN_BINDS.join(' ')} ` +
                '--bind=/usr/share/oem:/mnt --bind-ro=/usr/lib/modules ' +
                '--bind=/etc/ironic-python-agent --bind=/etc/ironic-python-agent.d --bind=/etc/ramforge --bind=/etc/ipa-rescue-config ' +
                '/usr/local/bin/ironic-python-agent',
              'ExecStartPre=/bin/mkdir -p /run/systemd/network /run/systemd/netif /run/ramforge',
              '',
            ].join('\n'),
          },
        ],
      },
    ],
  },
};

export interface OemOptions {
  runtime: 'chroot' | 'nspawn';
  /** Site cloud-config files, merged in order over the default. */
  overlays: string[];
  authorizedKeys: string[];
  /** The spec's rescue (default true); false drops the rescue hand-over and the rescue directory (finalize_rescue then fails). */
  rescue?: boolean;
  defaultFile?: string;
}

export interface OemFiles {
  cloudConfig: string;
  authorizedKeys?: string;
  /** The files merged, in order (for the manifest). */
  sources: string[];
}

export async function oemFiles(opts: OemOptions): Promise<OemFiles> {
  const base = opts.defaultFile ?? DEFAULT_CLOUD_CONFIG;
  const configs = [parseCloudConfig(await readFile(base, 'utf8'), base)];
  if (opts.runtime === 'nspawn') configs.push(NSPAWN_OVERLAY);
  for (const f of opts.overlays) configs.push(parseCloudConfig(await readFile(f, 'utf8'), f));
  let merged = mergeCloudConfigs(configs);
  if (opts.runtime === 'nspawn') merged = withoutChrootMounts(merged);
  if (opts.rescue === false) merged = withoutRescue(merged);
  const cloudConfig = renderCloudConfig(merged, [
    "Written by ramforge: cloud-config/cloud-config.yml merged with the spec's coreos.cloudConfig files.",
  ]);
  return {
    cloudConfig,
    ...(opts.authorizedKeys.length ? { authorizedKeys: opts.authorizedKeys.map((k) => `${k}\n`).join('') } : {}),
    sources: [base, ...opts.overlays],
  };
}

const RESCUE_UNITS = new Set(['ramforge-rescue.path', 'ramforge-rescue.service']);
const RESCUE_SCRIPT = '/usr/local/sbin/ramforge-rescue';

/**
 * rescue: false — no hand-over units or script, and no /etc/ipa-rescue-config
 * on the host or in the agent's root, so the agent refuses finalize_rescue
 * (docs/rescue.md) as it does in the other flavors built without rescue.
 */
export function withoutRescue(c: CloudConfig): CloudConfig {
  const scrub = (text: string): string =>
    text
      .split('\n')
      // The lines that make or bind the rescue directory; the nspawn ExecStart keeps its other binds.
      .filter((l) => !/^ExecStart=\/bin\/(mkdir|mount) .*ipa-rescue-config/.test(l))
      .map((l) => l.replace(/ --bind=\/etc\/ipa-rescue-config(?=\s|$)/g, '').replace(/ \S*\/etc\/ipa-rescue-config(?=\s|$)/g, ''))
      .join('\n');
  const units = c.coreos?.units
    ?.filter((u) => !RESCUE_UNITS.has(u.name))
    .map((u) => ({
      ...u,
      ...(u.content === undefined ? {} : { content: scrub(u.content) }),
      ...(u.drop_ins ? { drop_ins: u.drop_ins.map((d) => ({ ...d, content: scrub(d.content) })) } : {}),
    }));
  const files = c.write_files?.filter((f) => f.path !== RESCUE_SCRIPT);
  return {
    ...c,
    ...(c.coreos ? { coreos: { ...c.coreos, ...(units ? { units } : {}) } } : {}),
    ...(files ? { write_files: files } : {}),
  };
}

/** The chroot's bind mounts into the container (proc, dev, dev/pts, sys, sys/firmware/efi/efivars, run, mnt, usr/lib/modules). */
const CHROOT_MOUNT = /^opt-ironic\\x2dpython\\x2dagent-(proc|dev|dev-pts|sys|sys-firmware-efi-efivars|run|mnt|usr-lib-modules)\.mount$/;

/**
 * runtime: nspawn — systemd-nspawn refuses a root whose /dev is already
 * mounted and populated ("If a pre-mounted /dev is provided it needs to be
 * an unpopulated file system"), and mounts its own /proc; it binds /dev,
 * /dev/pts, /sys, /run and /usr/share/oem at /mnt itself (the drop-in's
 * ExecStart). So the chroot's mount units are left out, and the agent unit
 * no longer requires them.
 */
export function withoutChrootMounts(c: CloudConfig): CloudConfig {
  const units = c.coreos?.units
    ?.filter((u) => !CHROOT_MOUNT.test(u.name))
    .map((u) => {
      if (u.content === undefined) return u;
      const content = u.content
        .split('\n')
        .map((l) => {
          const m = /^(Requires|After|Wants)=(.*)$/.exec(l);
          if (!m) return l;
          const kept = (m[2] as string).split(/\s+/).filter((n) => n && !CHROOT_MOUNT.test(n));
          return kept.length ? `${m[1]}=${kept.join(' ')}` : undefined;
        })
        .filter((l): l is string => l !== undefined)
        .join('\n');
      return { ...u, content };
    });
  return { ...c, ...(c.coreos ? { coreos: { ...c.coreos, ...(units ? { units } : {}) } } : {}) };
}
