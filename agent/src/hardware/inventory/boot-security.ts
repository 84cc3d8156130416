/**
 * Secure Boot and kernel lockdown as the running kernel sees them, for the
 * inventory's `boot` section (ramforge additions beside IPA's
 * current_boot_mode and pxe_interface; Ironic and Inspector keep unknown
 * keys as they are). With Secure Boot, Debian kernels enforce lockdown
 * (integrity): /dev/mem, /dev/port, unsigned modules, kexec of unsigned
 * kernels, MSR writes and a few debugfs/ACPI knobs go (kernel_lockdown(7)).
 * `lockdown_unavailable` names what of that the agent would have used and
 * what it does instead; `lockdown_denied` is the kernel's own record of what
 * it refused since boot (one "Lockdown: <program>: <what> is restricted"
 * line per denial), so a tool that tried anyway shows up.
 */
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';

/** EFI_GLOBAL_VARIABLE's SecureBoot: 4 bytes of attributes, then 1 (on) or 0. */
const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** securityfs (mounted by the ramdisk): "none [integrity] confidentiality", the active mode in brackets. */
const LOCKDOWN_FILE = '/sys/kernel/security/lockdown';

export type LockdownMode = 'none' | 'integrity' | 'confidentiality';

export interface BootSecurity {
  /** null: not known (BIOS boot has none: false; UEFI without efivarfs: null). */
  secure_boot: boolean | null;
  /** null: the kernel has no lockdown LSM or securityfs is not mounted. */
  lockdown: LockdownMode | null;
  /** What lockdown takes away from the agent, each with the fallback it uses instead. */
  lockdown_unavailable: string[];
  /** "<program>: <what>" for each distinct denial in the kernel log. */
  lockdown_denied: string[];
}

export function parseLockdown(text: string | undefined): LockdownMode | null {
  const m = /\[(none|integrity|confidentiality)\]/.exec(text ?? '');
  return m ? (m[1] as LockdownMode) : null;
}

export async function readSecureBoot(host: HostAccess): Promise<boolean | null> {
  if (!(await host.exists('/sys/firmware/efi'))) return false;
  const raw = await host.readText(SECURE_BOOT_VAR);
  if (raw === undefined || raw.length < 5) return null;
  return raw.charCodeAt(4) === 1;
}

/**
 * What the agent reads or runs that lockdown removes, and what it does
 * instead. Only facts of this machine: DMI needs /dev/mem only where the
 * kernel does not export the tables in sysfs.
 */
export async function lockdownLimits(host: HostAccess, mode: LockdownMode | null): Promise<string[]> {
  if (mode === null || mode === 'none') return [];
  const out = ['/dev/mem and /dev/port: lshw and dmidecode read DMI from /sys/firmware/dmi instead'];
  if (!(await host.exists('/sys/firmware/dmi/tables/DMI'))) {
    out[0] =
      '/dev/mem and /dev/port: this kernel exports no /sys/firmware/dmi/tables, so system_vendor and memory come from /sys/class/dmi/id only';
  }
  if (mode === 'confidentiality') out.push('/proc/kcore, kprobes and raw kernel memory reads (the agent uses none of them)');
  return out;
}

/** Distinct "<program>: <what>" from the kernel's "Lockdown: <program>: <what> is restricted; see man kernel_lockdown.7" lines. */
export function parseLockdownDenials(dmesg: string | undefined): string[] {
  const seen = new Set<string>();
  for (const m of (dmesg ?? '').matchAll(/Lockdown: ([^:\n]+): (.+?) is restricted/g)) seen.add(`${m[1]!.trim()}: ${m[2]!.trim()}`);
  return [...seen];
}

export async function collectBootSecurity(host: HostAccess): Promise<BootSecurity> {
  const [secureBoot, lockdown] = await Promise.all([readSecureBoot(host), host.readText(LOCKDOWN_FILE).then(parseLockdown)]);
  const active = lockdown !== null && lockdown !== 'none';
  return {
    secure_boot: secureBoot,
    lockdown,
    lockdown_unavailable: await lockdownLimits(host, lockdown),
    lockdown_denied: active ? parseLockdownDenials(await tryRun(host, ['dmesg'], { timeoutMs: 10_000 })) : [],
  };
}

/** One log line at start: Secure Boot, the lockdown mode and what it takes from the agent. Never throws. */
export async function describeBootSecurity(host: HostAccess): Promise<string | undefined> {
  try {
    const s = await collectBootSecurity(host);
    if (s.lockdown === null || s.lockdown === 'none') return undefined;
    const denied = s.lockdown_denied.length ? `; the kernel refused so far: ${s.lockdown_denied.join(', ')}` : '';
    return `kernel lockdown: ${s.lockdown} (Secure Boot ${s.secure_boot ? 'on' : s.secure_boot === false ? 'off' : 'unknown'}); unavailable to the agent: ${s.lockdown_unavailable.join('; ')}${denied}`;
  } catch {
    return undefined;
  }
}
