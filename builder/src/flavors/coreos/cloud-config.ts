/**
 * cloud-config for the coreos flavor: the subset coreos-cloudinit ran and
 * IPA's cloud-config used (coreos.units, write_files, ssh_authorized_keys,
 * users, hostname), as a TypeBox schema checked at build time, so a typo
 * fails the build with its path instead of being skipped at boot.
 *
 * coreos-cloudinit treats '-' and '_' in keys alike (ssh-authorized-keys =
 * ssh_authorized_keys); files are normalised to '_' before the check.
 * Overlays merge in order: units by name (later fields win, drop-ins
 * added by name), write_files by path, users by name,
 * ssh_authorized_keys appended, hostname replaced.
 */
import { Type, type Static } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { SpecError, type SpecIssue } from '../../errors.js';
import { validateAgainst } from '../../spec/validate.js';

export const HEADER = '#cloud-config';

const UnitName = Type.String({
  pattern: '^[A-Za-z0-9:_.@\\\\-]+\\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope|network|netdev|link)$',
  description: 'a systemd unit name with its suffix, e.g. ironic-python-agent.service (escape "-" in mount unit paths as \\x2d)',
});

const DropIn = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.@-]+\\.conf$', description: 'drop-in file name, e.g. 10-debug.conf' }),
    content: Type.String({ description: 'the drop-in text' }),
  },
  { additionalProperties: false },
);

export const Unit = Type.Object(
  {
    name: UnitName,
    content: Type.Optional(Type.String({ description: 'the unit file text' })),
    enable: Type.Optional(Type.Boolean({ description: 'enable the unit (its [Install] section)' })),
    mask: Type.Optional(Type.Boolean({ description: 'mask the unit (a link to /dev/null)' })),
    runtime: Type.Optional(Type.Boolean({ description: 'write under /run/systemd/system (lost at reboot) instead of /etc' })),
    command: Type.Optional(
      Type.Union(
        ['start', 'stop', 'restart', 'reload', 'try-restart', 'reload-or-restart', 'reload-or-try-restart'].map((c) => Type.Literal(c)),
        { description: 'the systemctl command run on the unit after all units are written' },
      ),
    ),
    drop_ins: Type.Optional(Type.Array(DropIn, { description: 'drop-ins written to <name>.d/' })),
  },
  { additionalProperties: false },
);

export const WriteFile = Type.Object(
  {
    path: Type.String({ pattern: '^/', description: 'absolute path of the file' }),
    content: Type.Optional(Type.String()),
    permissions: Type.Optional(Type.String({ pattern: '^0?[0-7]{3,4}$', description: "octal mode as a string, e.g. '0644'" })),
    owner: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$', description: 'user[:group]' })),
    encoding: Type.Optional(
      Type.Union(
        ['b64', 'base64', 'gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64'].map((c) => Type.Literal(c)),
        { description: 'how content is encoded' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const User = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z_][a-z0-9_-]*$', description: 'the user name' }),
    passwd: Type.Optional(Type.String({ description: 'a crypt(3) hash' })),
    groups: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z_][a-z0-9_-]*$' }))),
    ssh_authorized_keys: Type.Optional(Type.Array(Type.String())),
    shell: Type.Optional(Type.String({ pattern: '^/' })),
    homedir: Type.Optional(Type.String({ pattern: '^/' })),
    gecos: Type.Optional(Type.String()),
    primary_group: Type.Optional(Type.String()),
    no_create_home: Type.Optional(Type.Boolean()),
    system: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const CloudConfigSchema = Type.Object(
  {
    coreos: Type.Optional(Type.Object({ units: Type.Optional(Type.Array(Unit)) }, { additionalProperties: false })),
    write_files: Type.Optional(Type.Array(WriteFile)),
    ssh_authorized_keys: Type.Optional(Type.Array(Type.String({ description: 'public key lines for the core user' }))),
    users: Type.Optional(Type.Array(User)),
    hostname: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$' })),
  },
  { additionalProperties: false },
);

export type CloudConfig = Static<typeof CloudConfigSchema>;
export type CloudUnit = Static<typeof Unit>;

/** Keys with '-' as coreos-cloudinit reads them: '_' (values, e.g. unit text, are left alone). */
export function underscoreKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(underscoreKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/-/g, '_'), underscoreKeys(x)]));
  return v;
}

/** Parse and check one cloud-config file; errors name the file and the path in it. */
export function parseCloudConfig(text: string, file: string): CloudConfig {
  const first = text.split('\n', 1)[0]?.trim();
  if (first !== HEADER)
    throw new SpecError(
      [
        {
          path: '(first line)',
          message: `is not '${HEADER}'`,
          fix: `start the file with the line ${HEADER}, as coreos-cloudinit requires`,
        },
      ],
      file,
    );
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new SpecError(
      [{ path: '(yaml)', message: (e as Error).message.split('\n')[0] ?? 'invalid YAML', fix: 'fix the YAML syntax' }],
      file,
    );
  }
  const value = underscoreKeys(raw ?? {});
  const issues: SpecIssue[] = validateAgainst(CloudConfigSchema, value);
  if (issues.length) throw new SpecError(issues, file);
  return value as CloudConfig;
}

function byKey<T>(items: T[], key: (t: T) => string, merge: (a: T, b: T) => T): T[] {
  const out = new Map<string, T>();
  for (const it of items) {
    const k = key(it);
    const old = out.get(k);
    out.set(k, old ? merge(old, it) : it);
  }
  return [...out.values()];
}

/** Merge overlays over a base, in order (see the module comment for the rules). */
export function mergeCloudConfigs(configs: CloudConfig[]): CloudConfig {
  const units = byKey(
    configs.flatMap((c) => c.coreos?.units ?? []),
    (u) => u.name,
    (a, b) => {
      const dropIns = byKey(
        [...(a.drop_ins ?? []), ...(b.drop_ins ?? [])],
        (d) => d.name,
        (_, d) => d,
      );
      return { ...a, ...b, ...(dropIns.length ? { drop_ins: dropIns } : {}) };
    },
  );
  const files = byKey(
    configs.flatMap((c) => c.write_files ?? []),
    (f) => f.path,
    (_, f) => f,
  );
  const users = byKey(
    configs.flatMap((c) => c.users ?? []),
    (u) => u.name,
    (a, b) => ({ ...a, ...b }),
  );
  const keys = configs.flatMap((c) => c.ssh_authorized_keys ?? []);
  const hostname = configs
    .map((c) => c.hostname)
    .filter((h) => h !== undefined)
    .pop();
  return {
    ...(units.length ? { coreos: { units } } : {}),
    ...(files.length ? { write_files: files } : {}),
    ...(keys.length ? { ssh_authorized_keys: keys } : {}),
    ...(users.length ? { users } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
  };
}

/** The file written to /usr/share/oem/cloud-config.yml. */
export function renderCloudConfig(c: CloudConfig, comment: string[] = []): string {
  const head = [HEADER, ...comment.map((l) => `# ${l}`)].join('\n');
  return `${head}\n${stringify(c, { lineWidth: 0, blockQuote: 'literal' })}`;
}

/** Spec issues of one cloud-config file (for the spec rules): each names the file, the path in it and the fix. */
export function checkCloudConfigFile(file: string, specPath: string): SpecIssue[] {
  try {
    parseCloudConfig(readFileSync(file, 'utf8'), file);
    return [];
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.issues.map((i) => ({ path: `${specPath} (${file}) ${i.path}`, message: i.message, ...(i.fix ? { fix: i.fix } : {}) }));
  }
}
