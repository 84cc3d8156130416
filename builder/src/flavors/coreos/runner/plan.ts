/**
 * What coreos-cloudinit does with a cloud-config, as data: the files to
 * write, the links to make and the commands to run, in order. Pure, so the
 * rules are unit-tested against coreos-cloudinit's documentation
 * (Documentation/cloud-config.md of coreos/coreos-cloudinit):
 *
 * - the file must start with `#cloud-config`; '-' and '_' in keys are the
 *   same; unknown keys are logged and ignored (a boot never fails on them);
 * - hostname; write_files (path, content, permissions default 0644, owner
 *   default root, encoding b64/base64, gz/gzip, gz+b64 ...);
 * - users (created when missing: name, passwd, groups, homedir, shell,
 *   gecos, primary_group, no_create_home, system, ssh_authorized_keys) and
 *   ssh_authorized_keys (for core, through update-ssh-keys -a coreos-cloudinit);
 * - coreos.units: content to /etc/systemd/system (runtime: /run/...), network
 *   units (.network, .netdev, .link) to /etc/systemd/network, drop_ins to
 *   NAME.d/, mask links to /dev/null, enable; then one daemon-reload,
 *   networkd restarted when network units were written, then each unit's
 *   command in order.
 */
import { gunzipSync } from 'node:zlib';

/** This file has no imports of the builder: it is bundled into the ramdisk (runner/main.ts). */
export interface Plan {
  hostname?: string;
  files: { path: string; content: Buffer; mode: number; owner?: string }[];
  links: { path: string; target: string }[];
  /** Run in order; `input` goes to stdin. `ensure-user` is the runner's own step (useradd when missing). */
  commands: { argv: string[]; input?: string }[];
  warnings: string[];
}

const TOP_KEYS = new Set(['coreos', 'write_files', 'ssh_authorized_keys', 'users', 'hostname']);
const COREOS_KEYS = new Set(['units']);
const UNIT_KEYS = new Set(['name', 'content', 'enable', 'mask', 'runtime', 'command', 'drop_ins']);
const FILE_KEYS = new Set(['path', 'content', 'permissions', 'owner', 'encoding']);
const USER_KEYS = new Set([
  'name',
  'passwd',
  'groups',
  'ssh_authorized_keys',
  'shell',
  'homedir',
  'gecos',
  'primary_group',
  'no_create_home',
  'system',
]);
const COMMANDS = new Set(['start', 'stop', 'restart', 'reload', 'try-restart', 'reload-or-restart', 'reload-or-try-restart']);
const NETWORK_UNIT = /\.(network|netdev|link)$/;

type Obj = Record<string, unknown>;

export function underscore(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(underscore);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k.replace(/-/g, '_'), underscore(x)]));
  return v;
}

function obj(v: unknown): Obj | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function unknownKeys(o: Obj, known: Set<string>, where: string, warnings: string[]): void {
  for (const k of Object.keys(o)) if (!known.has(k)) warnings.push(`${where}${k}: unknown key, ignored`);
}

export function decodeContent(content: string, encoding: string | undefined): Buffer {
  switch (encoding) {
    case undefined:
    case '':
      return Buffer.from(content);
    case 'b64':
    case 'base64':
      return Buffer.from(content, 'base64');
    case 'gz':
    case 'gzip':
      return gunzipSync(Buffer.from(content, 'latin1'));
    case 'gz+base64':
    case 'gzip+base64':
    case 'gz+b64':
    case 'gzip+b64':
      return gunzipSync(Buffer.from(content, 'base64'));
    default:
      throw new Error(`unknown encoding '${encoding}'`);
  }
}

/** Plan a parsed cloud-config (the YAML value; the header was checked by the caller). */
export function planCloudConfig(raw: unknown): Plan {
  const plan: Plan = { files: [], links: [], commands: [], warnings: [] };
  const c = obj(underscore(raw)) ?? {};
  unknownKeys(c, TOP_KEYS, '', plan.warnings);

  if (typeof c.hostname === 'string') {
    plan.hostname = c.hostname;
    plan.files.push({ path: '/etc/hostname', content: Buffer.from(`${c.hostname}\n`), mode: 0o644 });
    plan.commands.push({ argv: ['hostname', c.hostname] });
  }

  for (const [i, f] of (Array.isArray(c.write_files) ? c.write_files : []).entries()) {
    const o = obj(f);
    if (!o || typeof o.path !== 'string') {
      plan.warnings.push(`write_files[${i}]: no path, ignored`);
      continue;
    }
    unknownKeys(o, FILE_KEYS, `write_files[${i}].`, plan.warnings);
    try {
      const content = decodeContent(
        typeof o.content === 'string' ? o.content : '',
        typeof o.encoding === 'string' ? o.encoding : undefined,
      );
      const mode =
        typeof o.permissions === 'string' ? Number.parseInt(o.permissions, 8) : typeof o.permissions === 'number' ? o.permissions : 0o644;
      plan.files.push({ path: o.path, content, mode, ...(typeof o.owner === 'string' ? { owner: o.owner } : {}) });
    } catch (e) {
      plan.warnings.push(`write_files[${i}] (${o.path}): ${(e as Error).message}, ignored`);
    }
  }

  for (const [i, u] of (Array.isArray(c.users) ? c.users : []).entries()) {
    const o = obj(u);
    if (!o || typeof o.name !== 'string') {
      plan.warnings.push(`users[${i}]: no name, ignored`);
      continue;
    }
    unknownKeys(o, USER_KEYS, `users[${i}].`, plan.warnings);
    plan.commands.push({ argv: userCommand(o) });
    const groups = Array.isArray(o.groups) ? o.groups.filter((g): g is string => typeof g === 'string') : [];
    if (groups.length) plan.commands.push({ argv: ['usermod', '-a', '-G', groups.join(','), o.name] });
    if (typeof o.passwd === 'string') plan.commands.push({ argv: ['usermod', '-p', o.passwd, o.name] });
    const keys = Array.isArray(o.ssh_authorized_keys) ? o.ssh_authorized_keys.filter((k): k is string => typeof k === 'string') : [];
    if (keys.length)
      plan.commands.push({ argv: ['update-ssh-keys', '-u', o.name, '-a', 'coreos-cloudinit'], input: `${keys.join('\n')}\n` });
  }

  const keys = Array.isArray(c.ssh_authorized_keys) ? c.ssh_authorized_keys.filter((k): k is string => typeof k === 'string') : [];
  if (keys.length) plan.commands.push({ argv: ['update-ssh-keys', '-u', 'core', '-a', 'coreos-cloudinit'], input: `${keys.join('\n')}\n` });

  const coreos = obj(c.coreos);
  if (coreos) unknownKeys(coreos, COREOS_KEYS, 'coreos.', plan.warnings);
  const units = Array.isArray(coreos?.units) ? coreos.units : [];
  const enable: Plan['commands'] = [];
  const actions: Plan['commands'] = [];
  let network = false;
  for (const [i, u] of units.entries()) {
    const o = obj(u);
    if (!o || typeof o.name !== 'string' || !/^[^/]+\.[a-z]+$/.test(o.name)) {
      plan.warnings.push(`coreos.units[${i}]: no valid name, ignored`);
      continue;
    }
    unknownKeys(o, UNIT_KEYS, `coreos.units[${i}].`, plan.warnings);
    const isNetwork = NETWORK_UNIT.test(o.name);
    const root = `${o.runtime === true ? '/run' : '/etc'}/systemd/${isNetwork ? 'network' : 'system'}`;
    if (typeof o.content === 'string') {
      plan.files.push({ path: `${root}/${o.name}`, content: Buffer.from(o.content), mode: 0o644 });
      if (isNetwork) network = true;
    }
    for (const d of Array.isArray(o.drop_ins) ? o.drop_ins : []) {
      const di = obj(d);
      if (!di || typeof di.name !== 'string' || typeof di.content !== 'string') {
        plan.warnings.push(`coreos.units[${i}].drop_ins: an entry without name or content, ignored`);
        continue;
      }
      plan.files.push({ path: `${root}/${o.name}.d/${di.name}`, content: Buffer.from(di.content), mode: 0o644 });
      if (isNetwork) network = true;
    }
    if (o.mask === true) plan.links.push({ path: `${root}/${o.name}`, target: '/dev/null' });
    if (o.enable === true && !isNetwork)
      enable.push({ argv: ['systemctl', 'enable', ...(o.runtime === true ? ['--runtime'] : []), o.name] });
    if (typeof o.command === 'string') {
      if (COMMANDS.has(o.command)) {
        // Consecutive units with the same command share one systemctl call (each costs a
        // process start, slow on one CPU under TCG); their jobs are queued in the same order.
        const last = actions[actions.length - 1];
        if (last && last.argv[2] === o.command) last.argv.push(o.name);
        else actions.push({ argv: ['systemctl', '--no-block', o.command, o.name] });
      } else plan.warnings.push(`coreos.units[${i}].command: '${o.command}' is not a systemctl command, ignored`);
    }
  }
  if (units.length) plan.commands.push({ argv: ['systemctl', 'daemon-reload'] }, ...enable);
  if (network) plan.commands.push({ argv: ['systemctl', 'restart', 'systemd-networkd'] });
  plan.commands.push(...actions);
  return plan;
}

function userCommand(o: Obj): string[] {
  const name = o.name as string;
  const argv = ['ensure-user', name];
  if (typeof o.homedir === 'string') argv.push('--home', o.homedir);
  if (typeof o.shell === 'string') argv.push('--shell', o.shell);
  if (typeof o.gecos === 'string') argv.push('--comment', o.gecos);
  if (typeof o.primary_group === 'string') argv.push('--gid', o.primary_group);
  if (o.no_create_home === true) argv.push('--no-create-home');
  if (o.system === true) argv.push('--system');
  return argv;
}
