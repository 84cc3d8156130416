/**
 * The build spec: the single source of truth for what a YAML spec may say.
 * Common keys here; each flavor's inputs in its own section (`tinyipa:`,
 * declared in flavors/<name>/spec.ts). `WrittenSpec` is what users write;
 * `BuildSpec` (normalize.ts) is the resolved form, its type derived from
 * this schema with every default (declared here, once) filled in. The JSON
 * Schema for editors is generated from this file
 * (`npm run schema` → builder/src/spec/build-spec.schema.json).
 */
import { Type, type Static } from '@sinclair/typebox';
import { COMPRESSIONS } from '../archive/compress.js';
import { DEFAULT_ISO_LABEL } from '../outputs/iso.js';
import { SECURE_BOOT_MODES } from '../outputs/secure-boot.js';
import { FLAVOR_SECTIONS, FLAVORS } from '../flavors/sections.js';
import { withDefault } from './schema-kit.js';

const Mode = Type.Union([Type.Integer({ minimum: 0, maximum: 0o7777 }), Type.String({ pattern: '^0?[0-7]{3,4}$' })], {
  description: 'Permission bits, as an octal string ("0644") or an integer',
});
const AbsPath = Type.String({ pattern: '^/', description: 'Absolute path inside the ramdisk' });

export const FileLayer = Type.Object(
  {
    dest: AbsPath,
    src: Type.Optional(Type.String({ minLength: 1, description: 'Host file, relative to the spec file' })),
    content: Type.Optional(Type.String({ description: 'Inline content (instead of src)' })),
    mode: Type.Optional(Mode),
    uid: withDefault(Type.Integer({ minimum: 0 }), 0),
    gid: withDefault(Type.Integer({ minimum: 0 }), 0),
  },
  { additionalProperties: false, description: 'One file: from src on the host, or inline content' },
);

export const DirectoryLayer = Type.Object(
  {
    dest: AbsPath,
    src: Type.Optional(Type.String({ minLength: 1, description: 'Host directory copied recursively (relative to the spec file)' })),
    mode: Type.Optional(Mode),
    uid: withDefault(Type.Integer({ minimum: 0 }), 0),
    gid: withDefault(Type.Integer({ minimum: 0 }), 0),
  },
  { additionalProperties: false, description: 'A directory: created empty, or copied from src' },
);

export const TarballLayer = Type.Object(
  {
    src: Type.String({ minLength: 1, description: 'Tarball on the host (.tar, .tar.gz, .tar.xz, .tar.zst), relative to the spec file' }),
    dest: withDefault(AbsPath, '/'),
  },
  { additionalProperties: false },
);

export const AgentSection = Type.Object(
  {
    config: withDefault(Type.Record(Type.String(), Type.Unknown(), { description: 'Agent config file contents (JSON object)' }), {}),
    hardwareManagers: withDefault(
      Type.Array(Type.String({ minLength: 1 }), { description: 'Host .js/.mjs files or directories of custom hardware managers' }),
      [],
    ),
    caCertificates: withDefault(
      Type.Array(Type.String({ minLength: 1 }), { description: 'Site CA certificates (PEM files) trusted by the agent' }),
      [],
    ),
  },
  { additionalProperties: false },
);

export const SshSection = Type.Object(
  {
    authorizedKeys: withDefault(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          "Public keys allowed to log in as root: a key line ('ssh-ed25519 AAAA... me@host') or a file of them (relative to the spec). Without keys no SSH server runs until a rescue (see rescue)",
      }),
      [],
    ),
  },
  { additionalProperties: false },
);

export const IsoOptions = Type.Object(
  {
    label: withDefault(Type.String({ pattern: '^[A-Z0-9_-]{1,32}$', description: 'ISO volume label' }), DEFAULT_ISO_LABEL),
    append: withDefault(Type.String({ description: 'Extra kernel arguments for the ISO boot entries only' }), ''),
    secureBoot: withDefault(
      Type.Union(
        SECURE_BOOT_MODES.map((m) => Type.Literal(m)),
        {
          description:
            'UEFI path through shim and the signed GRUB: auto (default) when the kernel is signed, on (fail naming any unsigned piece), off',
        },
      ),
      'auto',
    ),
    signing: Type.Optional(
      Type.Object(
        {
          key: Type.String({ description: 'PEM private key (unencrypted) of the site db key' }),
          cert: Type.String({ description: 'PEM certificate of that key' }),
        },
        { additionalProperties: false, description: 'Sign the kernel (and the UKI) with a site Secure Boot db key (sbsign)' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const WrittenSpecSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    name: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
        description:
          'Build name: artifacts go to output/<name>/ as <name>.kernel, <name>.initramfs, <name>.iso (default: tinyipa, ipa-<flavor> for the others)',
      }),
    ),
    flavor: withDefault(
      Type.Union(
        FLAVORS.map((f) => Type.Literal(f)),
        { description: 'Ramdisk style' },
      ),
      'tinyipa',
    ),
    cmdline: withDefault(Type.String({ description: 'Kernel command line of the ramdisk: in the ISO boot entries and the manifest' }), ''),
    agent: withDefault(AgentSection, {}),
    ssh: withDefault(SshSection, {}),
    rescue: withDefault(
      Type.Boolean({
        description:
          "Ironic's agent rescue: after rescue.finalize_rescue the ramdisk creates the rescue user with the conductor's password hash, starts an SSH server that accepts it and renews DHCP (docs/rescue.md). false: rescue is refused and no SSH server is added for it",
      }),
      true,
    ),
    files: withDefault(Type.Array(FileLayer), []),
    directories: withDefault(Type.Array(DirectoryLayer), []),
    tarballs: withDefault(Type.Array(TarballLayer), []),
    console: withDefault(Type.Boolean({ description: 'Root shell on the serial and VGA consoles (debugging only)' }), false),
    compression: withDefault(
      Type.Union(
        COMPRESSIONS.map((c) => Type.Literal(c)),
        { description: 'Initramfs member compression: zstd unpacks about 3x faster than xz, xz is about 8 % smaller' },
      ),
      'zstd',
    ),
    iso: withDefault(
      Type.Union([Type.Boolean(), IsoOptions], { description: 'false: no ISO; true or {label, append}: a BIOS+UEFI hybrid ISO' }),
      true,
    ),
    sourceDateEpoch: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 4294967295,
        description:
          "Timestamp for every file (default: SOURCE_DATE_EPOCH, else 2026-01-01); at most 4294967295 (2106, the cpio format's limit)",
      }),
    ),
    tinyipa: Type.Optional(FLAVOR_SECTIONS.tinyipa),
    dib: Type.Optional(FLAVOR_SECTIONS.dib),
    coreos: Type.Optional(FLAVOR_SECTIONS.coreos),
  },
  { additionalProperties: false, title: 'ramforge build spec' },
);

export type WrittenSpec = Static<typeof WrittenSpecSchema>;
