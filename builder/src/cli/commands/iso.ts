import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeIso } from '../../outputs/iso.js';
import { requireHost } from '../../host/doctor.js';
import { CliUsageError, humanSize, parseFlags } from '../args.js';
import { DEFAULT_EPOCH, epochFromEnv } from '../../defaults.js';
import { DEFAULT_ISO_LABEL } from '../../outputs/iso.js';

const USAGE = `ramforge iso -k KERNEL -i INITRD -o OUT.iso [--append ARGS] [--label L]

Make one hybrid ISO from any kernel and initramfs: BIOS (isolinux, El Torito),
UEFI (GRUB in a FAT ESP), and MBR+GPT so it also boots when written to a USB
stick with dd. The boot entries carry boot_method=vmedia plus --append.

Options:
  -k, --kernel FILE     kernel image (bzImage)
  -i, --initrd FILE     initramfs
  -o, --output FILE     the ISO to write (replaced only when complete)
  --append ARGS         extra kernel arguments
  --label L             volume label (default ${DEFAULT_ISO_LABEL})
  --json                print a machine-readable summary on stdout
  --no-install          never apt-get install missing host tools
  -h, --help            this help

Reproducible: SOURCE_DATE_EPOCH (default ${DEFAULT_EPOCH}, 2026-01-01, as for
ramforge build) sets every date.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, {
    kernel: { type: 'string', short: 'k' },
    initrd: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    append: { type: 'string' },
    label: { type: 'string' },
    json: { type: 'boolean' },
    'no-install': { type: 'boolean' },
  }, USAGE);
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!v.kernel || !v.initrd || !v.output) throw new CliUsageError('-k KERNEL, -i INITRD and -o OUT.iso are required', `usage: ${USAGE.split('\n')[0]}`);
  if (v.label !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(v.label)) throw new CliUsageError(`--label '${v.label}' is not a valid volume label`, 'use up to 32 letters, digits, _ or -');
  await requireHost(['iso'], { install: !v['no-install'] });
  const epoch = epochFromEnv() ?? DEFAULT_EPOCH;
  const workDir = await mkdtemp(join(tmpdir(), 'ramforge-iso-'));
  try {
    const r = await makeIso({
      kernel: resolve(v.kernel),
      initrd: resolve(v.initrd),
      out: resolve(v.output),
      append: v.append ?? '',
      label: v.label?.toUpperCase(),
      epoch,
      workDir,
    });
    if (v.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else process.stderr.write(`wrote ${r.path} (${humanSize(r.size)})\n`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return 0;
}
