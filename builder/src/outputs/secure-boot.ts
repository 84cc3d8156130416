/**
 * Secure Boot pieces shared by the ISO and the UKI: which signed binaries
 * the UEFI path uses, whether a build gets them (`auto | on | off`), and
 * signing with a site's db key (sbsign).
 *
 * shim and GRUB come from the host's installed Debian packages (shim-signed,
 * grub-efi-amd64-signed) through the host tool table, like the ISO's other
 * boot loaders: `ramforge iso` then needs no apt state of its own, and the
 * same host package versions give the same bytes (their versions go into
 * the build record).
 */
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { ToolMissingError, UserError } from '../errors.js';
import { run } from '../exec/run.js';
import { isSignedPe } from './pe.js';

export const SECURE_BOOT_MODES = ['auto', 'on', 'off'] as const;
export type SecureBootMode = (typeof SECURE_BOOT_MODES)[number];

/** A site's Secure Boot db key: PEM private key (unencrypted) and PEM certificate. */
export interface SigningKey {
  key: string;
  cert: string;
}

/** Debian's signed boot chain, as installed by shim-signed and grub-efi-amd64-signed. */
export const SIGNED_BOOT_FILES = {
  /** Microsoft-signed shim with Debian's CA built in; becomes \EFI\BOOT\BOOTX64.EFI. */
  shim: '/usr/lib/shim/shimx64.efi.signed',
  /** Debian-signed GRUB (prefix /EFI/debian built in, every module linked in); becomes \EFI\BOOT\grubx64.efi. */
  grub: '/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed',
} as const;

/** Where the signed GRUB looks for its config: its built-in prefix /EFI/debian, on the device it came from. */
export const SIGNED_GRUB_CFG = 'EFI/debian/grub.cfg';

export interface SecureBootDecision {
  enabled: boolean;
  /** Why, for the log and the build record. */
  reason: string;
}

/**
 * Decide whether the ISO's UEFI path is the signed chain. `auto` follows
 * the kernel (signed → on); `on` refuses any unsigned piece, naming it.
 * `kernelSigned` is about the kernel that goes onto the ISO, i.e. after
 * signing with a site key when one is given.
 */
export async function decideSecureBoot(mode: SecureBootMode, kernel: string, kernelSigned: boolean): Promise<SecureBootDecision> {
  if (mode === 'off') return { enabled: false, reason: 'secureBoot: off' };
  if (mode === 'auto') {
    return kernelSigned
      ? { enabled: true, reason: 'the kernel is signed (secureBoot: auto)' }
      : { enabled: false, reason: 'the kernel carries no signature (secureBoot: auto)' };
  }
  if (!kernelSigned) {
    throw new UserError(`Secure Boot is on but the kernel '${kernel}' is not signed (no Authenticode signature in its PE header)`, {
      hint: 'use a Debian kernel (they are signed), sign it with your own db key (iso.signing {key, cert}; ramforge iso --sign-key/--sign-cert), or set iso.secureBoot (--secure-boot) to auto or off',
    });
  }
  for (const [what, path] of Object.entries(SIGNED_BOOT_FILES)) {
    if (!(await isSignedPe(path).catch(() => false))) {
      throw new UserError(`Secure Boot is on but the ${what} binary '${path}' is missing or not signed`, {
        hint: `reinstall ${what === 'shim' ? 'shim-signed' : 'grub-efi-amd64-signed'} (ramforge doctor --fix --for iso)`,
      });
    }
  }
  return { enabled: true, reason: 'secureBoot: on' };
}

/** Check a signing key pair is readable before any work starts. */
export async function checkSigningKey(s: SigningKey): Promise<void> {
  for (const [what, path] of [
    ['key', s.key],
    ['cert', s.cert],
  ] as const) {
    await access(path).catch((e: unknown) => {
      throw new UserError(`cannot read the Secure Boot signing ${what} '${path}'`, {
        hint: 'give a PEM private key (not encrypted) and its PEM certificate',
        cause: e,
      });
    });
  }
}

/** libfaketime (Debian's libfaketime package), preloaded into sbsign to pin its signing time. */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/**
 * Sign a PE image with sbsign into `out`. An image that is already signed
 * (a Debian kernel) keeps its signature and gets the site's as a second
 * one, so it boots both through Microsoft's shim and with only the site's
 * key in db.
 *
 * sbsign puts the current time into the signature's signed attributes
 * (signingTime) and has no option against it, so two signings a second
 * apart differ. It runs with libfaketime's clock frozen at `epoch` instead:
 * the RSA signature itself is deterministic, so the bytes are too. UEFI
 * and shim do not check signature times.
 */
export async function signPe(input: string, out: string, s: SigningKey, epoch: number): Promise<void> {
  if (!existsSync(LIBFAKETIME)) {
    throw new ToolMissingError([{ tool: LIBFAKETIME, pkg: 'libfaketime', why: 'reproducible sbsign signatures (a fixed signing time)' }]);
  }
  const frozen = new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
  await run(['sbsign', '--key', s.key, '--cert', s.cert, '--output', out, input], {
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: frozen, TZ: 'UTC', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  });
}

/** Copy or sign: the kernel that goes into an artifact. */
export async function prepareKernel(kernel: string, out: string, signing: SigningKey | undefined, epoch: number): Promise<string> {
  if (!signing) return kernel;
  await signPe(kernel, out, signing, epoch);
  return out;
}
