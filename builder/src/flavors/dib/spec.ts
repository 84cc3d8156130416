/**
 * The spec's `dib:` section: the elements of a dib build and what they are
 * given (flavors/dib/index.ts builds it).
 */
import { Type } from '@sinclair/typebox';
import { withDefault, type Filled } from '../../spec/schema-kit.js';

export const DibSection = Type.Object(
  {
    release: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9-]*$',
        description:
          "Debian release (codename) of the ramdisk, e.g. bookworm; given to elements as DIB_RELEASE. Default: the host's Debian release",
      }),
    ),
    elements: withDefault(
      Type.Array(Type.String({ pattern: '^[^/\\s]+$', description: 'An element name (a directory name in the elements path)' }), {
        uniqueItems: true,
        description: "Elements added to the flavor's own (the agent and the ramdisk base), as ironic-python-agent-builder's -e adds them",
      }),
      [],
    ),
    elementsPath: withDefault(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Directories of elements, absolute or relative to the spec; earlier ones override later ones, as in ELEMENTS_PATH (and before it)',
      }),
      [],
    ),
    environment: withDefault(
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
        description: 'Variables given to the elements (DIB_*, IPA_*, ...); the spec wins over the caller environment',
        additionalProperties: false,
      }),
      {},
    ),
  },
  { additionalProperties: false, description: 'Inputs of the dib flavor (a systemd Debian ramdisk built from diskimage-builder elements)' },
);

export type DibSpec = Filled<typeof DibSection>;
