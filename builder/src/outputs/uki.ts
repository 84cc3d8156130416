/**
 * A unified kernel image: systemd's EFI stub (systemd-boot-efi's
 * linuxx64.efi.stub) with the kernel, the initramfs, the command line and
 * an os-release added as PE sections, one file that UEFI HTTP boot or any
 * boot manager starts, signed as a whole when a key is given.
 *
 * Debian 12's systemd (252) has no ukify, so this does what ukify does
 * (systemd 253's src/ukify/ukify.py, read for the layout): the sections go
 * after the stub's last section, each at a 4 KiB aligned VMA, in the order
 * .osrel, .cmdline, .initrd and .linux last (room for the kernel to
 * decompress), added by objcopy with --change-section-vma; an unsigned
 * kernel is signed on its own before it goes in, then the whole image.
 * Same inputs → same bytes: objcopy stamps the current time into the PE
 * header, so the stamp is pinned afterwards (to the stub's own, zero), and
 * sbsign runs with a frozen clock (see signPe).
 */
import { copyFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BuildError, UserError, explainFsError } from '../errors.js';
import { run } from '../exec/run.js';
import { DEFAULT_EPOCH, epochFromEnv } from '../defaults.js';
import { pinPeTimestamp, readPeInfo } from './pe.js';
import { checkSigningKey, signPe, type SigningKey } from './secure-boot.js';
import { checkReadableFile } from './iso.js';

/** Where Debian's systemd-boot-efi installs the x86_64 stub. */
export const UKI_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';

export interface MakeUkiOptions {
  kernel: string;
  initrd: string;
  /** The complete kernel command line (the stub ignores any other when Secure Boot is on). */
  cmdline: string;
  out: string;
  /** Text of the .osrel section; default a small ramforge os-release. */
  osRelease?: string;
  /** Sign the kernel (when unsigned) and the image with this db key. */
  signing?: SigningKey;
  /** Default UKI_STUB. */
  stub?: string;
  /** Signing time of the signatures (seconds since 1970); default $SOURCE_DATE_EPOCH, else DEFAULT_EPOCH (defaults.ts). */
  epoch?: number;
  workDir: string;
  /**
   * false: leave the finished file at `out + '.partial'` (the result's
   * `partial`) for the caller to rename, as `ramforge iso` does to replace
   * an ISO and a UKI together or neither. Default true: renamed here.
   */
  commit?: boolean;
}

export interface UkiSection {
  name: string;
  file: string;
  size: number;
  /** Absolute VMA (image base included), as objcopy wants it. */
  vma: bigint;
  flags: string;
}

export interface MakeUkiResult {
  path: string;
  size: number;
  signed: boolean;
  sections: { name: string; vma: string; size: number }[];
  /** With `commit: false`: the finished file, still to be renamed to `path`. */
  partial?: string;
}

const PAGE = 4096n;
/** The PE TimeDateStamp of every UKI: Debian's stub carries 0 too. */
const UKI_TIMESTAMP = 0;

function roundUp(n: bigint, to: bigint = PAGE): bigint {
  return ((n + to - 1n) / to) * to;
}

/** The ramforge os-release for the .osrel section (what boot menus show). */
export function defaultOsRelease(): string {
  return ['NAME="ramforge"', 'ID=ramforge', 'PRETTY_NAME="ramforge ironic-python-agent ramdisk"', ''].join('\n');
}

/**
 * Place the sections after the stub's last one: the first at the 4 KiB
 * boundary past its end, every next one at the boundary past the previous.
 * Pure, so the layout is unit-tested.
 */
export function layoutUkiSections(stubEnd: bigint, parts: { name: string; file: string; size: number; flags?: string }[]): UkiSection[] {
  let at = roundUp(stubEnd);
  return parts.map((p) => {
    const s: UkiSection = { name: p.name, file: p.file, size: p.size, vma: at, flags: p.flags ?? 'data,readonly' };
    at = roundUp(at + BigInt(Math.max(p.size, 1)));
    return s;
  });
}

/** argv for objcopy adding `sections` to `stub`, written to `out`. */
export function objcopyUkiArgv(stub: string, sections: UkiSection[], out: string): string[] {
  return [
    'objcopy',
    ...sections.flatMap((s) => ['--add-section', `${s.name}=${s.file}`, '--set-section-flags', `${s.name}=${s.flags}`]),
    ...sections.flatMap((s) => ['--change-section-vma', `${s.name}=0x${s.vma.toString(16)}`]),
    stub,
    out,
  ];
}

/** Build `<name>.efi`. Throws UserError for bad inputs. */
export async function makeUki(opts: MakeUkiOptions): Promise<MakeUkiResult> {
  const stub = opts.stub ?? UKI_STUB;
  await checkReadableFile(opts.kernel, 'kernel');
  await checkReadableFile(opts.initrd, 'initrd');
  if (opts.signing) await checkSigningKey(opts.signing);
  if (/[\n\0]/.test(opts.cmdline))
    throw new UserError('the UKI command line holds a newline or NUL', { hint: 'give the kernel arguments on one line' });
  const stubInfo = await readPeInfo(stub).catch((e: unknown) => {
    throw new UserError(`cannot read systemd's EFI stub '${stub}'`, {
      hint: 'install systemd-boot-efi (ramforge doctor --fix --for iso)',
      cause: e,
    });
  });
  const last = stubInfo?.sections.reduce((a, b) => (b.virtualAddress + b.virtualSize > a.virtualAddress + a.virtualSize ? b : a));
  if (!stubInfo || !last) throw new BuildError(`'${stub}' is not a PE image`, { hint: 'reinstall systemd-boot-efi' });
  const kernelInfo = await readPeInfo(opts.kernel);
  if (!kernelInfo) {
    throw new UserError(`the kernel '${opts.kernel}' is not an EFI-stub kernel (no PE header)`, {
      hint: 'pass a vmlinuz built with CONFIG_EFI_STUB (every Debian kernel is)',
    });
  }

  const out = resolve(opts.out);
  const partial = `${out}.partial`;
  await mkdir(opts.workDir, { recursive: true });
  const work = await mkdtemp(join(opts.workDir, 'uki-'));
  try {
    const kernel = join(work, 'linux');
    const epoch = opts.epoch ?? epochFromEnv() ?? DEFAULT_EPOCH;
    if (opts.signing && kernelInfo.signatureBytes === 0) await signPe(opts.kernel, kernel, opts.signing, epoch);
    else await copyFile(opts.kernel, kernel);
    const text = async (name: string, content: string) => {
      const file = join(work, name);
      await writeFile(file, content);
      return { name: `.${name}`, file, size: Buffer.byteLength(content) };
    };
    const file = async (name: string, path: string, flags?: string) => ({
      name: `.${name}`,
      file: path,
      size: (await stat(path)).size,
      ...(flags ? { flags } : {}),
    });
    const sections = layoutUkiSections(stubInfo.imageBase + BigInt(last.virtualAddress + last.virtualSize), [
      await text('osrel', opts.osRelease ?? defaultOsRelease()),
      await text('cmdline', opts.cmdline),
      await file('initrd', resolve(opts.initrd)),
      await file('linux', kernel, 'code,readonly'),
    ]);
    const unsigned = opts.signing ? join(work, 'unsigned.efi') : partial;
    await rm(partial, { force: true });
    await run(objcopyUkiArgv(stub, sections, unsigned));
    await pinPeTimestamp(unsigned, UKI_TIMESTAMP);
    if (opts.signing) await signPe(unsigned, partial, opts.signing, epoch);
    const result: MakeUkiResult = {
      path: out,
      size: (await stat(partial)).size,
      signed: opts.signing !== undefined,
      sections: sections.map((s) => ({ name: s.name, vma: `0x${s.vma.toString(16)}`, size: s.size })),
    };
    if (opts.commit === false) return { ...result, partial };
    await rename(partial, out);
    return result;
  } catch (e) {
    await rm(partial, { force: true });
    throw explainFsError(e, `writing UKI ${out}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
