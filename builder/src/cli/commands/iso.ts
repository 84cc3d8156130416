import { statSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeIso, type MakeIsoResult } from '../../outputs/iso.js';
import { SECURE_BOOT_MODES, type SecureBootMode, type SigningKey } from '../../outputs/secure-boot.js';
import { makeUki, type MakeUkiResult } from '../../outputs/uki.js';
import { requireHost } from '../../host/doctor.js';
import { CliUsageError, humanSize, parseFlags } from '../args.js';
import { explainFsError } from '../../errors.js';
import { DEFAULT_EPOCH, epochFromEnv } from '../../defaults.js';
import { DEFAULT_ISO_LABEL } from '../../outputs/iso.js';
import { setInterruptSignal } from '../../exec/run.js';
import { installInterruptHandlers, interruptedOr } from '../interrupt.js';

const USAGE = `ramforge iso -k KERNEL -i INITRD [-o OUT.iso] [--uki OUT.efi] [--append ARGS] [--label L]
                     [--secure-boot auto|on|off] [--sign-key KEY --sign-cert CERT]

Make one hybrid ISO from any kernel and initramfs: BIOS (isolinux, El Torito),
UEFI (GRUB in a FAT ESP), and MBR+GPT so it also boots when written to a USB
stick with dd. The boot entries carry boot_method=vmedia plus --append.

Secure Boot: when the kernel is signed (Debian's are), the UEFI path is
Debian's Microsoft-signed shim, then Debian's signed GRUB, then the kernel,
so the ISO boots with Secure Boot enforced; otherwise GRUB is built here.

--uki also (or, without -o, only) writes a unified kernel image: systemd's
EFI stub with the kernel, the initramfs and --append as its command line
(no boot_method=vmedia: a UKI is for UEFI HTTP boot and boot managers).

Options:
  -k, --kernel FILE     kernel image (bzImage)
  -i, --initrd FILE     initramfs
  -o, --output FILE     the ISO to write (replaced only when complete: with
                        --uki, when both are)
  --uki FILE            the unified kernel image (.efi) to write
  --append ARGS         extra kernel arguments
  --label L             volume label, upper-cased (default ${DEFAULT_ISO_LABEL})
  --secure-boot MODE    auto (default: on when the kernel is signed), on (fail
                        naming any unsigned piece), off (GRUB built here)
  --sign-key FILE       site db key (PEM, unencrypted): sign the kernel and
  --sign-cert FILE        the UKI with sbsign (give both; see docs/secure-boot.md)
  --json                print a machine-readable summary on stdout
  --no-install          never apt-get install missing host tools
  --debug               print every command run and stack traces
  -h, --help            this help

Reproducible: SOURCE_DATE_EPOCH (default ${DEFAULT_EPOCH}, 2026-01-01, as for
ramforge build) sets every date.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(
    argv,
    {
      kernel: { type: 'string', short: 'k' },
      initrd: { type: 'string', short: 'i' },
      output: { type: 'string', short: 'o' },
      append: { type: 'string' },
      label: { type: 'string' },
      uki: { type: 'string' },
      'secure-boot': { type: 'string' },
      'sign-key': { type: 'string' },
      'sign-cert': { type: 'string' },
      json: { type: 'boolean' },
      'no-install': { type: 'boolean' },
    },
    USAGE,
  );
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!v.kernel || !v.initrd || (!v.output && !v.uki))
    throw new CliUsageError('-k KERNEL, -i INITRD and -o OUT.iso (or --uki OUT.efi) are required', `usage: ${USAGE.split('\n')[0]}`);
  const secureBoot = (v['secure-boot'] ?? 'auto') as SecureBootMode;
  if (!SECURE_BOOT_MODES.includes(secureBoot))
    throw new CliUsageError(
      `--secure-boot '${v['secure-boot']}' is not one of ${SECURE_BOOT_MODES.join(', ')}`,
      'auto follows the kernel; on fails when anything is unsigned',
    );
  if (Boolean(v['sign-key']) !== Boolean(v['sign-cert']))
    throw new CliUsageError('--sign-key and --sign-cert go together', 'give the PEM private key and its certificate');
  const signing: SigningKey | undefined =
    v['sign-key'] && v['sign-cert'] ? { key: resolve(v['sign-key']), cert: resolve(v['sign-cert']) } : undefined;
  if (v.label !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(v.label))
    throw new CliUsageError(`--label '${v.label}' is not a valid volume label`, 'use up to 32 letters, digits, _ or -');
  const out = v.output ? resolve(v.output) : undefined;
  const ukiOut = v.uki ? resolve(v.uki) : undefined;
  if (out && out === ukiOut)
    throw new CliUsageError(`-o and --uki name the same file '${v.output}'`, 'give the ISO and the UKI different names');
  // The inputs before the host: a mistyped path must not first install packages.
  for (const [flag, file] of [
    ['-k', v.kernel],
    ['-i', v.initrd],
  ] as const) {
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) throw new CliUsageError(`${flag} '${file}': no such file`, 'check the path');
    if (!st.isFile()) throw new CliUsageError(`${flag} '${file}' is not a file`, 'give the kernel image and the initramfs files');
  }
  for (const [flag, file] of [
    ['-o', out],
    ['--uki', ukiOut],
  ] as const) {
    if (file && statSync(file, { throwIfNoEntry: false })?.isDirectory())
      throw new CliUsageError(`${flag} '${file}' is a directory`, 'give the path of the file to write');
  }
  await requireHost(['iso'], { install: !v['no-install'] });
  const epoch = epochFromEnv() ?? DEFAULT_EPOCH;
  const interrupt = installInterruptHandlers('partial files may be left beside the outputs (*.partial)');
  setInterruptSignal(interrupt.signal);
  const workDir = await mkdtemp(join(tmpdir(), 'ramforge-iso-'));
  // Both outputs are finished as <out>.partial first and renamed only when every one asked for is complete:
  // a failing --uki leaves the ISO at -o as it was too.
  const finished: string[] = [];
  try {
    const r: { iso?: MakeIsoResult; uki?: MakeUkiResult } = {};
    if (out) {
      r.iso = await makeIso({
        kernel: resolve(v.kernel),
        initrd: resolve(v.initrd),
        out,
        append: v.append ?? '',
        label: v.label?.toUpperCase(),
        epoch,
        workDir,
        secureBoot,
        commit: false,
        ...(signing ? { signing } : {}),
      });
      if (r.iso.partial) finished.push(r.iso.partial);
    }
    if (ukiOut) {
      r.uki = await makeUki({
        kernel: resolve(v.kernel),
        initrd: resolve(v.initrd),
        cmdline: (v.append ?? '').trim(),
        out: ukiOut,
        epoch,
        workDir,
        commit: false,
        ...(signing ? { signing } : {}),
      });
      if (r.uki.partial) finished.push(r.uki.partial);
    }
    interrupt.signal.throwIfAborted();
    for (const res of [r.iso, r.uki]) {
      if (!res?.partial) continue;
      await rename(res.partial, res.path).catch((e: unknown) => {
        throw explainFsError(e, `writing ${res.path}`);
      });
      finished.splice(finished.indexOf(res.partial), 1);
      delete res.partial;
    }
    if (v.json) process.stdout.write(JSON.stringify(r.iso && !r.uki ? r.iso : r, null, 2) + '\n');
    if (r.iso)
      process.stderr.write(
        `wrote ${r.iso.path} (${humanSize(r.iso.size)}; Secure Boot ${r.iso.secureBoot ? 'on' : 'off'}: ${r.iso.secureBootReason})\n`,
      );
    if (r.uki) process.stderr.write(`wrote ${r.uki.path} (${humanSize(r.uki.size)}${r.uki.signed ? ', signed' : ''})\n`);
  } catch (e) {
    throw interruptedOr(e, interrupt.signal, 'stopped; no output file was written or replaced');
  } finally {
    for (const f of finished) await rm(f, { force: true });
    await rm(workDir, { recursive: true, force: true });
  }
  return 0;
}
