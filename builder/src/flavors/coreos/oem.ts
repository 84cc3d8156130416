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

/**
 * coreos.runtime: nspawn — the agent in systemd-nspawn instead of chroot,
 * with the host's /dev, /sys and /proc bound in (nspawn's own are
 * read-only: IPA's reason to leave it) and /usr/share/oem at /mnt.
 */
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
              'ExecStart=',
              'ExecStart=/usr/bin/systemd-nspawn --quiet --keep-unit --register=no --capability=all -D /opt/ironic-python-agent ' +
                '--bind=/dev --bind=/dev/pts --bind=/sys --bind=/run --bind=/usr/share/oem:/mnt ' +
                '--bind=/etc/ironic-python-agent --bind=/etc/ironic-python-agent.d --bind=/etc/ramforge --bind=/etc/ipa-rescue-config ' +
                '/usr/local/bin/ironic-python-agent',
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
  const merged = mergeCloudConfigs(configs);
  const cloudConfig = renderCloudConfig(merged, [
    "Written by ramforge: cloud-config/cloud-config.yml merged with the spec's coreos.cloudConfig files.",
  ]);
  return {
    cloudConfig,
    ...(opts.authorizedKeys.length ? { authorizedKeys: opts.authorizedKeys.map((k) => `${k}\n`).join('') } : {}),
    sources: [base, ...opts.overlays],
  };
}
