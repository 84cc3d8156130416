/**
 * `ramforge iso`: one hybrid image from a kernel and an initrd that boots
 * on BIOS (ISOLINUX, CD or USB stick via the isohybrid MBR) and on UEFI
 * (GRUB in an appended FAT ESP), with boot_method=vmedia on the command
 * line as Ironic's virtual media boot expects. Same inputs → same bytes.
 *
 * With Secure Boot the ESP holds Debian's signed chain instead of a GRUB
 * built here: shim as \EFI\BOOT\BOOTX64.EFI, the signed GRUB beside it as
 * grubx64.efi (shim loads that name from its own directory), and the
 * search config at /EFI/debian/grub.cfg. The signed GRUB's built-in prefix
 * is /EFI/debian on the device it was loaded from, and its built-in config
 * sources $prefix/grub.cfg when that directory exists; otherwise it
 * searches every disk for /.disk/info (another disk's Debian media would
 * win) and then tries ($root)/boot/grub and $cmdpath. That device is the
 * ESP partition on a USB stick but the whole CD on El Torito boot under
 * OVMF (measured: "file `/EFI/' not found" on the CD), so the search config
 * sits in both the ESP and the ISO 9660 tree. It finds the ISO by its id
 * file, and the menu loads the signed kernel, which GRUB has shim verify.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError, explainFsError } from '../errors.js';
import { run } from '../exec/run.js';
import { DEFAULT_EPOCH, MAX_EPOCH } from '../defaults.js';
import { buildEspImage, espPlan, type EspFile } from './esp-image.js';
import { GRUB_CFG_ISO_PATH, grubMkimageArgv, renderGrubConfig, renderGrubEarlyConfig } from './grub-config.js';
import { buildVmediaCmdline } from './iso-cmdline.js';
import { ISO_PATHS, renderIsolinuxConfig, seedGuid, xorrisoArgv } from './iso-layout.js';
import { BOOTLOADER_FILES, SECURE_BOOT_PACKAGES, checkIsoTools, readBootloaderVersions } from './iso-tools.js';
import { isSignedPe } from './pe.js';
import {
  SIGNED_BOOT_FILES,
  SIGNED_GRUB_CFG,
  checkSigningKey,
  decideSecureBoot,
  prepareKernel,
  type SecureBootMode,
  type SigningKey,
} from './secure-boot.js';

export interface MakeIsoOptions {
  kernel: string;
  initrd: string;
  /** Output file; written as `out + '.partial'` and renamed when complete. */
  out: string;
  /** Extra kernel arguments, after boot_method=vmedia. */
  append?: string;
  /** ISO volume label; default VMEDIA_BOOT_ISO (what Ironic and DIB use). */
  label?: string;
  /** SOURCE_DATE_EPOCH for every date in the image; default $SOURCE_DATE_EPOCH, else DEFAULT_EPOCH (defaults.ts). */
  epoch?: number;
  /** Scratch space; a private subdirectory is made and removed. */
  workDir: string;
  /** Boot menu timeout in seconds; default 1 (0 boots at once). */
  timeoutSeconds?: number;
  /** UEFI path through shim and the signed GRUB: `auto` (default) when the kernel is signed. */
  secureBoot?: SecureBootMode;
  /** Sign the kernel with this db key (sbsign) before it goes onto the ISO. */
  signing?: SigningKey;
  /**
   * false: leave the finished file at `out + '.partial'` (the result's
   * `partial`) for the caller to rename, as `ramforge iso` does to replace
   * an ISO and a UKI together or neither. Default true: renamed here.
   */
  commit?: boolean;
}

export interface MakeIsoResult {
  path: string;
  size: number;
  /** Debian package → version of the bootloaders in the image. */
  bootloaders: Record<string, string>;
  /** Whether the UEFI path is the signed shim → GRUB → kernel chain. */
  secureBoot: boolean;
  secureBootReason: string;
  /** With `commit: false`: the finished file, still to be renamed to `path`. */
  partial?: string;
}

export const DEFAULT_ISO_LABEL = 'VMEDIA_BOOT_ISO';

/** Build the hybrid ISO. Throws UserError for bad inputs, ToolMissingError for missing packages. */
export async function makeIso(opts: MakeIsoOptions): Promise<MakeIsoResult> {
  const label = checkLabel(opts.label ?? DEFAULT_ISO_LABEL);
  const epoch = resolveEpoch(opts.epoch);
  const timeoutSeconds = checkTimeout(opts.timeoutSeconds ?? 1);
  const cmdline = buildVmediaCmdline(opts.append);
  await checkKernel(opts.kernel);
  await checkReadableFile(opts.initrd, 'initrd');
  checkIsoTools();
  if (opts.signing) await checkSigningKey(opts.signing);

  const out = resolve(opts.out);
  const partial = `${out}.partial`;
  await mkdir(opts.workDir, { recursive: true });
  const work = await mkdtemp(join(opts.workDir, 'iso-'));
  try {
    const kernel = await prepareKernel(resolve(opts.kernel), join(work, 'vmlinuz.signed'), opts.signing, epoch);
    const sb = await decideSecureBoot(opts.secureBoot ?? 'auto', opts.kernel, await isSignedPe(kernel));
    // The seed covers everything that changes the image, so different builds
    // get different search ids and GUIDs while rebuilds get the same ones.
    const seed = await hashInputs([kernel, opts.initrd], { label, epoch, cmdline, timeoutSeconds, secureBoot: sb.enabled });
    const idFile = `${ISO_PATHS.idDir}/${seed.slice(0, 16)}`;
    const stage = join(work, 'root');
    await stageIsoRoot(stage, { label, cmdline, timeoutSeconds, idFile });

    const early = join(work, 'grub-early.cfg');
    await writeFile(early, renderGrubEarlyConfig({ idFile, label }));
    if (sb.enabled) {
      await mkdir(join(stage, dirname(SIGNED_GRUB_CFG)), { recursive: true });
      await copyFile(early, join(stage, SIGNED_GRUB_CFG));
    }
    const espFiles: EspFile[] = [];
    const add = async (source: string, target: string) => espFiles.push({ source, target, size: (await stat(source)).size });
    if (sb.enabled) {
      // Private copies: buildEspImage pins the sources' mtimes, which must not touch the host's files.
      for (const [name, src] of [
        ['shim.efi', SIGNED_BOOT_FILES.shim],
        ['grubx64.efi', SIGNED_BOOT_FILES.grub],
      ] as const) {
        await copyFile(src, join(work, name));
      }
      await add(join(work, 'shim.efi'), 'EFI/BOOT/BOOTX64.EFI');
      await add(join(work, 'grubx64.efi'), 'EFI/BOOT/grubx64.efi');
      await add(early, SIGNED_GRUB_CFG);
    } else {
      const efi = join(work, 'BOOTX64.EFI');
      await run(grubMkimageArgv({ out: efi, earlyConfig: early, moduleDir: BOOTLOADER_FILES.grubEfiModules }));
      await add(efi, 'EFI/BOOT/BOOTX64.EFI');
    }
    const plan = espPlan({ files: espFiles, seed, epoch });
    const esp = join(work, 'esp.img');
    await buildEspImage(plan, esp);

    await mkdir(dirname(out), { recursive: true });
    await rm(partial, { force: true });
    const argv = xorrisoArgv({
      out: partial,
      label,
      epoch,
      diskGuid: seedGuid(seed),
      stageDir: stage,
      grafts: [
        { isoPath: ISO_PATHS.kernel, source: kernel },
        { isoPath: ISO_PATHS.initrd, source: resolve(opts.initrd) },
      ],
      isohybridMbr: BOOTLOADER_FILES.isohybridMbr,
      espImage: esp,
    });
    await run(argv, { cwd: work, env: { SOURCE_DATE_EPOCH: String(epoch), TZ: 'UTC' } });
    const bootloaders = await readBootloaderVersions(sb.enabled ? SECURE_BOOT_PACKAGES : undefined);
    const size = (await stat(partial)).size;
    if (opts.commit === false) return { path: out, size, bootloaders, secureBoot: sb.enabled, secureBootReason: sb.reason, partial };
    await rename(partial, out);
    return { path: out, size, bootloaders, secureBoot: sb.enabled, secureBootReason: sb.reason };
  } catch (e) {
    await rm(partial, { force: true });
    throw explainFsError(e, `writing ISO ${out}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The small files of the ISO root; kernel and initrd are grafted by xorriso. */
async function stageIsoRoot(stage: string, s: { label: string; cmdline: string; timeoutSeconds: number; idFile: string }): Promise<void> {
  await mkdir(join(stage, 'isolinux'), { recursive: true });
  await mkdir(join(stage, dirname(GRUB_CFG_ISO_PATH)), { recursive: true });
  await mkdir(join(stage, ISO_PATHS.idDir), { recursive: true });
  await copyFile(BOOTLOADER_FILES.isolinuxBin, join(stage, ISO_PATHS.isolinuxBin));
  await copyFile(BOOTLOADER_FILES.ldlinux, join(stage, ISO_PATHS.ldlinux));
  await writeFile(join(stage, ISO_PATHS.isolinuxCfg), renderIsolinuxConfig(s));
  await writeFile(
    join(stage, GRUB_CFG_ISO_PATH),
    renderGrubConfig({ ...s, kernelPath: ISO_PATHS.kernel, initrdPath: ISO_PATHS.initrd, title: 'ramforge' }),
  );
  // GRUB finds the ISO by this file; its content says what it is to a curious reader.
  await writeFile(join(stage, s.idFile), `ramforge ISO, volume ${s.label}; GRUB searches for this file\n`);
}

async function hashInputs(files: string[], meta: Record<string, unknown>): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify(meta));
  for (const f of files) {
    for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

function checkLabel(label: string): string {
  // ISO 9660 allows 32 characters; '-' and lower case are needed for Ironic's 'config-2'.
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(label)) {
    throw new UserError(`invalid ISO label '${label}'`, {
      hint: 'use 1-32 characters from A-Z, a-z, 0-9, _ . - (the default is VMEDIA_BOOT_ISO)',
    });
  }
  return label;
}

function checkTimeout(t: number): number {
  if (!Number.isFinite(t) || t < 0 || t > 600) {
    throw new UserError(`invalid boot menu timeout ${t}`, { hint: 'give a number of seconds between 0 and 600' });
  }
  return t;
}

function resolveEpoch(epoch: number | undefined): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  const value = epoch ?? (env !== undefined && env !== '' ? Number(env) : DEFAULT_EPOCH);
  if (!Number.isInteger(value) || value < 0 || value > MAX_EPOCH) {
    throw new UserError(`invalid SOURCE_DATE_EPOCH '${epoch ?? env}'`, {
      hint: `give whole seconds since 1970-01-01 up to ${MAX_EPOCH} (2106; e.g. $(git log -1 --format=%ct))`,
    });
  }
  return value;
}

/** A readable regular file, else a UserError naming `what` and the path (the ISO's and the UKI's inputs). */
export async function checkReadableFile(path: string, what: string): Promise<void> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    const fh = await open(path, 'r');
    await fh.close();
  } catch (e) {
    throw new UserError(`cannot read the ${what} '${path}': ${(e as Error).message}`, {
      hint: `check the ${what} path (and its permissions) and run again`,
      cause: e,
    });
  }
}

/** Every x86 boot protocol kernel has "HdrS" at 0x202; catches swapped kernel/initrd arguments. */
async function checkKernel(path: string): Promise<void> {
  await checkReadableFile(path, 'kernel');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 0x202);
    if (buf.toString('latin1') !== 'HdrS') {
      throw new UserError(`the kernel '${path}' is not an x86 Linux kernel (bzImage): no "HdrS" boot header`, {
        hint: 'pass the vmlinuz file as the kernel (did you swap kernel and initrd?)',
      });
    }
  } finally {
    await fh.close();
  }
}
