/**
 * coreos: IPA's original ramdisk, the ramforge way. The agent is an
 * ordinary container image (the top-level Dockerfile built by a Docker
 * engine, or an image archive), exported and normalised as a tar; the
 * cloud-config.yml and the operator's authorized_keys go to /usr/share/oem,
 * and a cloud-config runner runs the agent chrooted in
 * /opt/ironic-python-agent. The host is ramforge's minimal Debian container
 * host (host-os.ts: the dib flavor's base machinery and element runner),
 * whose initramfs holds the container already unpacked at
 * /opt/ironic-python-agent (its own member: the kernel unpacks it), or a
 * CoreOS-family PXE image (coreos.base) the OEM files and
 * /usr/share/oem/container.tar.gz are appended to, unpacked at boot by the
 * cloud-config as IPA's was.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import type { TreeEntry } from '../../tree/types.js';
import { Tree } from '../../tree/tree.js';
import { defineFlavor, type Member } from '../contract.js';
import type { FlavorSpec } from '../../spec/normalize.js';
import { InternalError, UserError } from '../../errors.js';
import { requirementsFor } from '../../host/tools.js';
import { bundleAgent, type AgentBundle } from '../../agent-bundle.js';
import { fetchNodeRuntime } from '../../node-runtime.js';
import { debianBase, hostRelease, type DebianBase } from '../../debian/mmdebstrap.js';
import { detectCompression } from '../../archive/initramfs-list.js';
import { engineProbe } from '../../docker/engine.js';
import { makeAgentContainer, type AgentContainer } from './container.js';
import { CONTAINER_ROOT, OEM_DIR, oemFiles, type OemFiles } from './oem.js';
import { buildHostOs, HOST_PACKAGES } from './host-os.js';
import { repackInitramfs } from './repack.js';

type CoreosBuild = FlavorSpec<'coreos'>;

/** What coreos's input stages make, handed to its assemble. */
export interface CoreosInputs {
  oem: OemFiles;
  container: AgentContainer;
  /** The host OS (absent with coreos.base). */
  host: { base: DebianBase; release: string; runner: AgentBundle } | undefined;
}

const RUNNER_ENTRY = fileURLToPath(new URL('./runner/main.ts', import.meta.url));

export const flavor = defineFlavor<CoreosInputs>({
  name: 'coreos',
  host: (anySpec) => {
    const own = coreosSpec(anySpec).coreos;
    return {
      tools: [
        ...requirementsFor(['node-runtime']),
        ...(own.base ? [] : requirementsFor(['debian', 'debian-base'])),
        ...(own.container === undefined && own.baseImage === undefined ? requirementsFor(['debian-base']) : []),
      ],
      probes: own.container === undefined ? [engineProbe()] : [],
    };
  },
  inputs: (anySpec) => {
    const spec = coreosSpec(anySpec);
    const own = spec.coreos;
    return {
      oem: {
        name: 'cloud-config',
        title: 'Check and merge the cloud-config',
        run: () =>
          oemFiles({ runtime: own.runtime, overlays: own.cloudConfig, authorizedKeys: spec.ssh.authorizedKeys, rescue: spec.rescue }),
      },
      container: {
        name: 'agent-container',
        title: own.container === undefined ? "Build the agent's container (Docker engine)" : "Flatten the agent's container image",
        run: async (env) => {
          // The Node runtime's download and the agent's bundle beside the container's base (mmdebstrap).
          const runtime = Promise.all([
            fetchNodeRuntime(own.node.version, env.cacheDir, { strip: true, icu: 'small', log: env.log }),
            bundleAgent({ nodeVersion: own.node.version }),
          ]).then(([node, agent]) => ({ node, agent }));
          runtime.catch(() => undefined); // awaited by makeAgentContainer; this only keeps an early failure elsewhere from going unhandled
          const c = await makeAgentContainer(own, runtime, { ...env, epoch: spec.sourceDateEpoch });
          env.log(`container.tar.gz: ${(c.bytes / 1048576).toFixed(1)} MiB, ${c.entries} entries`);
          return c;
        },
      },
      host: {
        name: 'host-os',
        title: own.base ? 'Check the CoreOS base image' : 'Build the container host (Debian, systemd)',
        run: async (env) => {
          if (own.base) {
            await checkBaseInitramfs(own.base.initramfs);
            return undefined;
          }
          const release = hostRelease() ?? 'bookworm';
          const base = await debianBase({ release, variant: 'minbase', include: hostPackages(own), epoch: spec.sourceDateEpoch }, env);
          const runner = await bundleAgent({ nodeVersion: own.node.version, entry: RUNNER_ENTRY });
          return { base, release, runner };
        },
      },
    };
  },
  async assemble({ oem, container, host }, { spec: anySpec, tree, workspace, cacheDir, log, signal }) {
    const spec = coreosSpec(anySpec);
    const own = spec.coreos;
    const mtime = spec.sourceDateEpoch;
    const attrs = { mtime, layer: 'oem' };
    let kernel: { file: string; version: string };
    let members: Member[];
    let facts: Record<string, unknown> = {};
    if (host) {
      const built = await buildHostOs(tree, {
        baseTarball: host.base.tarball,
        baseKey: host.base.key,
        runner: host.runner.code,
        release: host.release,
        name: spec.name,
        console: spec.console,
        mtime,
        workspace,
        cacheDir,
        log,
        signal,
      });
      kernel = built.kernel;
      members = [
        // zstd 19 on the ~150 MB host root costs minutes (dib measured 9 → a few MB more); 9 keeps the build in its target.
        { kind: 'tree', name: 'host', compression: { zstd: 9, xz: 6 } },
        // Compressed one by one already (dib/kernel.ts cutModules): the kernel only copies this member.
        { kind: 'tree', name: 'modules', select: (e: TreeEntry) => e.path.startsWith('usr/lib/modules/'), compression: 'none' },
        // The container's tree (~210 MB): zstd 9 makes it 57 MB (gzip 6 made container.tar.gz 70 MB) in ~5 s; 19 takes
        // minutes. gzip (the tests' builds) at 6 as container.tar.gz was: the default 9 took 48 s on it.
        ...(own.unpack === 'build'
          ? [{ kind: 'tree' as const, name: 'container', select: isContainer, compression: { zstd: 9, xz: 6, gzip: 6 } }]
          : []),
        // container.tar.gz (unpack: boot) is gzip already: compressing it again costs minutes and saves nothing.
        { kind: 'tree', name: 'oem', select: isOem, compression: 'none' },
      ];
      facts = {
        host: { debianBase: host.base.key, release: host.release, packages: hostPackages(own), elements: built.elements },
        kernel: { modules: built.modules },
      };
      // unpack: build (default): the container unpacked by the kernel with the rest of the initramfs, instead of
      // container.tar.gz unpacked by the runner at boot: that unpack (pigz and tar, ~13 qemu CPU s under TCG) was the
      // boot's longest step. The runner finds it in place and skips the unpack (elements/ramforge-coreos-host).
      // unpack: boot keeps IPA's layout, the archive in /usr/share/oem.
      if (own.unpack === 'build') await mergeContainer(tree, container.file);
      addOemFiles(tree, oem, own.unpack === 'build' ? undefined : container, attrs);
    } else {
      const base = own.base as { kernel: string; initramfs: string };
      kernel = { file: base.kernel, version: 'coreos.base' };
      if (own.oem === 'repack') {
        // IPA's way: the base and the OEM files as one archive, compressed as the base was (repack.ts).
        const oemTree = new Tree({ storeDir: join(workspace, 'oem-tree'), usrMerge: false });
        addOemFiles(oemTree, oem, container, attrs);
        const file = join(workspace, 'coreos-base-oem.initramfs');
        const r = await repackInitramfs({ base: base.initramfs, oem: oemTree.entries(), out: file, epoch: mtime });
        log(`repacked ${base.initramfs} with the OEM files: ${r.baseEntries} base entries, ${r.compression}`);
        members = [{ kind: 'verbatim', name: 'coreos-base-oem', file }];
        facts = { base: { kernel: base.kernel, initramfs: base.initramfs, oem: own.oem, repack: r } };
      } else {
        // "Adding a Custom OEM": the base initramfs unchanged, the OEM files as one more member.
        members = [
          { kind: 'verbatim', name: 'coreos-base', file: base.initramfs },
          { kind: 'tree', name: 'oem', compression: 'none' },
        ];
        facts = { base: { kernel: base.kernel, initramfs: base.initramfs, oem: own.oem } };
        addOemFiles(tree, oem, container, attrs);
      }
    }
    return {
      kernel,
      members,
      facts: {
        ...facts,
        container: {
          source: container.source,
          sha256: container.sha256,
          treeSha256: container.treeSha256,
          bytes: container.bytes,
          entries: container.entries,
          ...(container.image ? { image: container.image, baseImage: container.base } : {}),
        },
        runtime: own.runtime,
        cloudConfig: oem.sources.length,
      },
    };
  },
});

/** The host's packages; runtime: nspawn needs systemd-nspawn (Debian's systemd-container). */
function hostPackages(own: CoreosBuild['coreos']): string[] {
  return own.runtime === 'nspawn' ? [...HOST_PACKAGES, 'systemd-container'] : HOST_PACKAGES;
}

/** /usr/share/oem: the container (unless it is in the tree already), the merged cloud-config and the SSH keys. */
function addOemFiles(tree: Tree, oem: OemFiles, container: AgentContainer | undefined, attrs: { mtime: number; layer: string }): void {
  tree.addDir(OEM_DIR, { ...attrs, mode: 0o755 });
  if (container) tree.addFile(`${OEM_DIR}/container.tar.gz`, { source: container.file, size: container.bytes }, { ...attrs, mode: 0o644 });
  tree.addFile(`${OEM_DIR}/cloud-config.yml`, Buffer.from(oem.cloudConfig), { ...attrs, mode: 0o644 });
  if (oem.authorizedKeys) tree.addFile(`${OEM_DIR}/authorized_keys`, Buffer.from(oem.authorizedKeys), { ...attrs, mode: 0o644 });
}

/** The normalised container archive, unpacked into the tree at CONTAINER_ROOT (owners, modes, links as in the archive). */
async function mergeContainer(tree: Tree, file: string): Promise<void> {
  const gunzip = createGunzip();
  createReadStream(file)
    .on('error', (e) => gunzip.destroy(e))
    .pipe(gunzip);
  await tree.mergeTar(gunzip, { layer: 'container', into: CONTAINER_ROOT });
}

function isContainer(e: TreeEntry): boolean {
  return e.path === CONTAINER_ROOT || e.path.startsWith(`${CONTAINER_ROOT}/`);
}

function isOem(e: TreeEntry): boolean {
  return e.path === OEM_DIR || e.path.startsWith(`${OEM_DIR}/`);
}

function coreosSpec(spec: { flavor: string }): CoreosBuild {
  if (spec.flavor !== 'coreos') throw new InternalError(`the coreos flavor was given a ${spec.flavor} spec`);
  return spec as CoreosBuild;
}

/** The base kernel must be able to read its initramfs: a cpio, or one compressed with a method Linux knows. */
async function checkBaseInitramfs(file: string): Promise<void> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(8);
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  if (!detectCompression(head))
    throw new UserError(`coreos.base.initramfs: ${file} is not an initramfs (neither a cpio nor gzip, xz, zstd, bzip2 or lzma)`, {
      hint: "name the CoreOS-family PXE image's initramfs, e.g. flatcar_production_pxe_image.cpio.gz",
    });
}
