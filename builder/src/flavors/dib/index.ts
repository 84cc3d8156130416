/**
 * dib: a systemd Debian ramdisk built from diskimage-builder elements, the
 * way IPA's DIB images are (the whole root filesystem is the initramfs).
 *
 *   Debian base (mmdebstrap, cached) → extracted → the elements (ours in
 *   elements/, then the spec's) run on it → kernel from /boot, modules cut
 *   to the generic set → the root, owners and modes kept, into the tree
 *
 * The agent is the same as tinyipa's: the pinned Node runtime and the agent
 * bundle, handed to the ironic-python-agent-ramdisk element.
 */
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineFlavor } from '../contract.js';
import { AGENT_TOOL_PACKAGES, ATA_BRIDGE_CHECK_PACKAGES, SYSTEMD_RAMDISK_PACKAGES } from '../agent-packages.js';
import type { FlavorSpec } from '../../spec/normalize.js';
import { InternalError } from '../../errors.js';
import { requirementsFor } from '../../host/tools.js';
import { bundleAgent, REPO_ROOT, type AgentBundle } from '../../agent-bundle.js';
import { fetchNodeRuntime, type NodeRuntime } from '../../node-runtime.js';
import { debianBase, extractBase, hostRelease, type DebianBase } from '../../debian/mmdebstrap.js';
import { DEFAULT_NODE_VERSION } from '../tinyipa/spec.js';
import { AGENT_BUNDLE_PATH, agentNodeFlags } from '../tinyipa/agent-start.js';
import { makeAgentCompileCache } from '../../agent-compile-cache.js';
import { RAMFORGE_VERSION } from '../../version.js';
import { preflightElements, requireTreeRoot, runElements, RUNNER_ROOT_PROBE } from './elements/runner.js';
import { asTreeRoot, type TreeAccess } from './elements/userns.js';
import { run } from '../../exec/run.js';
import { mergeDibInputs } from './inputs.js';
import { dibMembers } from './members.js';
import { cutModules, takeKernel } from './kernel.js';
import { mergeRootDir } from './root-tree.js';

/** The elements ramforge ships (top-level elements/), searched after the spec's paths. */
export const SHIPPED_ELEMENTS_DIR = join(REPO_ROOT, 'elements');

/** What every dib build runs, before the spec's elements (ironic-python-agent-builder's own list). */
/** The agent's start script (tinyipa's: it loads the bundle with the shipped V8 code cache). */
const AGENT_START_SCRIPT = fileURLToPath(new URL('../tinyipa/rootfs/usr/lib/ramforge-agent/start.mjs', import.meta.url));
/** The ironic-python-agent-ramdisk element's wrapper, whose node line gives the flags the code cache is made with. */
const AGENT_WRAPPER = join(SHIPPED_ELEMENTS_DIR, 'ironic-python-agent-ramdisk/static/usr/sbin/ramforge-agent');

export const FLAVOR_ELEMENTS = ['ramforge-debian', 'ironic-python-agent-ramdisk', 'ramforge-ramdisk', 'ramforge-ssh'];

/**
 * The base: systemd with udev and networkd, the generic kernel (every common
 * server NIC and HBA), sshd, and the programs the agent runs
 * (docs/ramdisk-tools.md; the same set as tinyipa, real tools instead of
 * busybox). tiny-initramfs satisfies the kernel's "an initramfs generator"
 * dependency in a fraction of a second: ramforge builds the initramfs itself.
 */
export const DIB_BASE_PACKAGES = [
  ...SYSTEMD_RAMDISK_PACKAGES,
  'linux-image-amd64',
  'tiny-initramfs',
  ...AGENT_TOOL_PACKAGES,
  ...ATA_BRIDGE_CHECK_PACKAGES,
  'procps',
  'ca-certificates',
];

type DibBuild = FlavorSpec<'dib'>;

export interface DibInputs {
  base: DebianBase;
  node: NodeRuntime;
  agent: AgentBundle;
}

export const flavor = defineFlavor<DibInputs>({
  name: 'dib',
  host: () => ({ tools: requirementsFor(['debian', 'debian-base', 'node-runtime']), probes: [RUNNER_ROOT_PROBE] }),
  inputs: (anySpec) => {
    const spec = dibSpec(anySpec);
    // Element mistakes (unknown, double provider, duplicated hook, block-device.d) fail now, not after the base.
    const dib = mergeDibInputs(spec.dib, process.env, process.cwd());
    preflightElements(buildElements(dib.elements), [...dib.elementsPath, SHIPPED_ELEMENTS_DIR]);
    return {
      base: {
        name: 'debian-base',
        title: 'Build the Debian base (mmdebstrap)',
        run: (env) =>
          debianBase(
            { release: releaseOf(spec), variant: 'minbase', include: DIB_BASE_PACKAGES, epoch: spec.sourceDateEpoch },
            { cacheDir: env.cacheDir, log: env.log, signal: env.signal },
          ),
      },
      node: {
        name: 'fetch-node',
        title: 'Fetch the pinned Node runtime',
        run: (env) => fetchNodeRuntime(DEFAULT_NODE_VERSION, env.cacheDir, { log: env.log }),
      },
      agent: {
        name: 'bundle-agent',
        title: 'Bundle the agent',
        run: async (env) => {
          const agent = await bundleAgent({ nodeVersion: DEFAULT_NODE_VERSION });
          env.log(`agent bundle: ${(agent.bytes / 1024).toFixed(0)} KiB`);
          return agent;
        },
      },
    };
  },
  async assemble({ base, node, agent }, { spec: anySpec, tree, workspace, cacheDir, log, signal }) {
    const spec = dibSpec(anySpec);
    const mtime = spec.sourceDateEpoch;
    const release = releaseOf(spec);
    const root = join(workspace, 'root');
    // As an ordinary user the tree is handled in a user namespace (files owned by subordinate uids).
    const access = requireTreeRoot();
    try {
      return await assembleRoot(root, access);
    } finally {
      await removeTree(root, access);
    }
    async function assembleRoot(root: string, access: TreeAccess) {
      await extractBase(base.tarball, root, signal, (argv) => asTreeRoot(access, argv));

      // The agent for the ironic-python-agent-ramdisk element (its extra-data.d copies it in).
      const agentDir = join(workspace, 'agent');
      await mkdir(agentDir, { recursive: true });
      await copyFile(node.binary, join(agentDir, 'node'));
      await chmod(join(agentDir, 'node'), 0o755);
      await writeFile(join(agentDir, 'agent.mjs'), agent.code);
      // start.mjs and V8's code cache for the bundle (as tinyipa ships them): Node skips parsing and compiling
      // the bundle at every boot (the cache is accepted: NODE_DEBUG_NATIVE=COMPILE_CACHE in the image says so).
      await copyFile(AGENT_START_SCRIPT, join(agentDir, 'start.mjs'));
      const compileCache = await makeAgentCompileCache({
        node: node.binary,
        bundle: agent.code,
        url: pathToFileURL(AGENT_BUNDLE_PATH).href,
        flags: agentNodeFlags(await readFile(AGENT_WRAPPER, 'utf8')),
        log,
      });
      if (compileCache) {
        await mkdir(join(agentDir, 'compile-cache'));
        await writeFile(join(agentDir, 'compile-cache', compileCache.key), compileCache.data);
      }
      // Build paths are named RAMFORGE_*, not DIB_*: the manifests element records every DIB_* variable in
      // /etc/dib-manifests, and a workspace path there would make two builds differ.
      const flavorEnv: Record<string, string> = {
        RAMFORGE_AGENT_DIR: agentDir,
        DIB_RAMFORGE_CONSOLE: spec.console ? '1' : '0',
        DIB_IPA_ENABLE_RESCUE: spec.rescue ? 'true' : 'false',
      };
      if (spec.ssh.authorizedKeys.length) {
        const keys = join(workspace, 'authorized_keys');
        await writeFile(keys, spec.ssh.authorizedKeys.map((k) => `${k}\n`).join(''));
        flavorEnv.RAMFORGE_AUTHORIZED_KEYS = keys;
      }
      const dib = mergeDibInputs(spec.dib, process.env, process.cwd());
      const ran = await runElements({
        root,
        elements: buildElements(dib.elements),
        elementsPath: [...dib.elementsPath, SHIPPED_ELEMENTS_DIR],
        environment: { ...flavorEnv, ...dib.environment },
        release,
        arch: 'amd64',
        imageName: spec.name,
        workDir: join(workspace, 'dib'),
        cacheDir,
        epoch: mtime,
        node: node.binary,
        log,
        signal,
      });
      // /tmp is empty: runElements ends with DIB's finalise_base.

      const kernel = await takeKernel(root, workspace);
      const modules = await cutModules(root, kernel.version);
      log(
        `kernel ${kernel.version}: ${modules.kept} modules kept${modules.compressed ? ' (zstd, each on its own)' : ''}, ${modules.removed} removed`,
      );

      await mergeRootDir(tree, root, { mtime, layer: 'dib-root', argv: (a) => asTreeRoot(access, a) });
      tree.addFile(
        'etc/ramforge-release',
        Buffer.from(
          `NAME=${spec.name}\nFLAVOR=dib\nRAMFORGE_VERSION=${RAMFORGE_VERSION}\nNODE_VERSION=${node.version}\nKERNEL=${kernel.version}\nRELEASE=${release}\n`,
        ),
        { mode: 0o644, mtime, layer: 'dib' },
      );

      return {
        kernel: { file: kernel.file, version: kernel.version },
        members: dibMembers(),
        facts: {
          kernel: { modules: { kept: modules.kept, removed: modules.removed, compressed: modules.compressed } },
          debianBase: { release, key: base.key, packages: DIB_BASE_PACKAGES },
          elements: ran.elements,
          scripts: ran.scripts.map((s) => ({ phase: s.phase, element: s.element, script: s.script, seconds: s.seconds })),
          node: { version: node.version, sha256: node.sha256, officialSha256: node.officialSha256 },
          agent: { bytes: agent.bytes, compileCacheBytes: compileCache?.data.length ?? 0 },
        },
      };
    }
  },
});

/** Remove the build tree (in the user namespace, where its files are owned by subordinate uids). */
async function removeTree(root: string, access: TreeAccess): Promise<void> {
  if (access.mode === 'root') return rm(root, { recursive: true, force: true });
  await run(asTreeRoot(access, ['rm', '-rf', '--one-file-system', root]), { noInterrupt: true });
}

/** The flavor's elements, then the spec's. */
function buildElements(specElements: readonly string[]): string[] {
  return [...FLAVOR_ELEMENTS, ...specElements.filter((e) => !FLAVOR_ELEMENTS.includes(e))];
}

function dibSpec(spec: { flavor: string }): DibBuild {
  if (spec.flavor !== 'dib') throw new InternalError(`the dib flavor was given a ${spec.flavor} spec`);
  return spec as DibBuild;
}

/** The spec's release, else the host's (DIB_RELEASE in the caller's environment counts as the spec's default). */
function releaseOf(spec: DibBuild): string {
  return spec.dib.release ?? spec.dib.environment.DIB_RELEASE ?? process.env.DIB_RELEASE ?? hostRelease() ?? 'bookworm';
}
