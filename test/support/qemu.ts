/**
 * qemu helpers for every boot test: start a VM (direct kernel, ISO as CD or
 * as a USB-style disk, BIOS or UEFI), watch its serial console, poll a
 * forwarded HTTP port, and make sure no VM outlives the test process.
 *
 * Rules baked in: `-accel tcg` unless RAMFORGE_QEMU_ACCEL says otherwise
 * (KVM does not work on the CI hosts); user-mode networking whose forwards
 * bind 127.0.0.1 only; the host side never talks to 10.0.2.2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian packages the boot tests need on the host. */
export const QEMU_PACKAGES = ['qemu-system-x86', 'ovmf'];

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Secure Boot firmware (needs SMM) and variable stores with keys enrolled and Secure Boot on. */
export const OVMF_CODE_SECBOOT = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_SECURE_VARS = {
  /** Microsoft's KEK and db (what signed shims are trusted by). */
  ms: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  /** Debian's test key in PK, KEK and db; key and cert in /usr/share/ovmf/PkKek-1-snakeoil.{key,pem}. */
  snakeoil: '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd',
} as const;

export interface BootVmOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  iso?: string;
  /** How the ISO is attached: a CD-ROM (virtual media) or a raw disk (a dd'ed USB stick). Default 'cdrom'. */
  isoMedia?: 'cdrom' | 'disk';
  firmware?: 'bios' | 'uefi';
  /** UEFI with Secure Boot enforced: q35 + SMM + secure flash, keys from this variable store template. */
  secureBoot?: keyof typeof OVMF_SECURE_VARS;
  /** A UEFI variable store the caller owns and keeps (to boot the same machine again, NVRAM entries included); default a fresh per-VM copy. */
  ovmfVars?: string;
  memoryMiB?: number;
  /** guestAddr: the guest's address when it is not slirp's DHCP address (10.0.2.15), e.g. a static one. */
  hostfwd?: { hostPort: number; guestPort: number; guestAddr?: string }[];
  mac?: string;
  /** sectorSize 4096: a 4Kn disk (logical and physical blocks of 4096 bytes); default 512. */
  disks?: { path: string; format?: 'raw' | 'qcow2'; serial?: string; sectorSize?: 512 | 4096 }[];
  /** Host file that receives a copy of everything the guest writes to ttyS0. */
  serialLog?: string;
  extraArgs?: string[];
  /** Reserved: network namespaces are entered by the caller (unshare -n), not here. */
  netns?: undefined;
}

export interface Vm {
  /** Resolves with the first match of `re` in the serial output; rejects on timeout or VM exit. */
  waitForSerial(re: RegExp, timeoutMs: number): Promise<string>;
  serialText(): string;
  /** Polls until `url` answers; `ms` counts from VM start. Only 127.0.0.1/localhost URLs. */
  waitForHttp(url: string, timeoutMs: number): Promise<{ status: number; body: string; ms: number }>;
  /** Resolves with the exit code (null if killed) when qemu exits by itself or is stopped. */
  exited(): Promise<number | null>;
  stop(): Promise<void>;
  readonly startedAt: number;
  readonly pid: number;
  readonly argv: string[];
}

/** Paths qemuArgv needs that bootVm creates (the per-VM OVMF variable store). */
export interface VmFiles {
  ovmfVars?: string;
}

/** The qemu argv for `opts`. Pure, so the wiring is testable without qemu. */
export function qemuArgv(opts: BootVmOptions, files: VmFiles = {}): string[] {
  const argv = ['qemu-system-x86_64', '-accel', process.env.RAMFORGE_QEMU_ACCEL || 'tcg'];
  argv.push('-m', String(opts.memoryMiB ?? 512), '-no-reboot', '-display', 'none', '-vga', 'none');
  // Serial on stdio (we copy it to serialLog); no monitor, so stdin is never read as commands.
  argv.push('-serial', 'stdio', '-monitor', 'none', '-parallel', 'none');
  if (opts.firmware === 'uefi') {
    if (!files.ovmfVars) throw new Error('qemuArgv: UEFI needs a per-VM copy of OVMF_VARS');
    if (opts.secureBoot) {
      // Enforcement is only real when the variable store is reachable from SMM alone.
      argv.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
    }
    argv.push('-drive', `if=pflash,format=raw,readonly=on,file=${opts.secureBoot ? OVMF_CODE_SECBOOT : OVMF_CODE}`);
    argv.push('-drive', `if=pflash,format=raw,file=${files.ovmfVars}`);
  }
  const fwd = (opts.hostfwd ?? []).map((f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-${f.guestAddr ?? ''}:${f.guestPort}`).join('');
  argv.push('-nic', `user,model=virtio-net-pci,mac=${opts.mac ?? '52:54:00:12:34:56'}${fwd}`);
  if (opts.kernel) argv.push('-kernel', opts.kernel);
  if (opts.initrd) argv.push('-initrd', opts.initrd);
  if (opts.append !== undefined) argv.push('-append', opts.append);
  if (opts.iso) {
    // bootindex works for SeaBIOS and OVMF alike, unlike -boot order.
    if ((opts.isoMedia ?? 'cdrom') === 'cdrom') {
      argv.push('-drive', `if=none,id=iso,media=cdrom,format=raw,readonly=on,file=${opts.iso}`);
      argv.push('-device', 'ide-cd,drive=iso,bootindex=0');
    } else {
      // snapshot=on: the guest may write to its "USB stick" without touching the ISO file.
      argv.push('-drive', `if=none,id=iso,format=raw,snapshot=on,file=${opts.iso}`);
      argv.push('-device', 'ide-hd,drive=iso,bootindex=0');
    }
  }
  (opts.disks ?? []).forEach((d, i) => {
    argv.push('-drive', `if=none,id=disk${i},format=${d.format ?? 'raw'},file=${d.path}`);
    const blocks = d.sectorSize ? `,logical_block_size=${d.sectorSize},physical_block_size=${d.sectorSize}` : '';
    argv.push('-device', `virtio-blk-pci,drive=disk${i}${d.serial ? `,serial=${d.serial}` : ''}${blocks}`);
  });
  argv.push(...(opts.extraArgs ?? []));
  return argv;
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Kill every VM when the test process ends, however it ends. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = (): void => {
    for (const c of live) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

/** Start a VM. Resolves once qemu is spawned (not booted). */
export async function bootVm(opts: BootVmOptions): Promise<Vm> {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-vm-'));
  const files: VmFiles = {};
  if (opts.firmware === 'uefi' && opts.ovmfVars) files.ovmfVars = opts.ovmfVars;
  else if (opts.firmware === 'uefi') {
    files.ovmfVars = join(dir, 'OVMF_VARS.fd');
    copyFileSync(opts.secureBoot ? OVMF_SECURE_VARS[opts.secureBoot] : OVMF_VARS, files.ovmfVars);
  }
  const argv = qemuArgv(opts, files);
  if (opts.serialLog) writeFileSync(opts.serialLog, '');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const startedAt = Date.now();
  let serial = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    const s = d.toString('latin1');
    serial += s;
    if (opts.serialLog) appendFileSync(opts.serialLog, d);
    for (const w of watchers) w();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4096);
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolveExit) => {
    child.on('close', (code) => {
      exitCode = code;
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
      for (const w of watchers) w();
      resolveExit(code);
    });
  });
  await new Promise<void>((res, rej) => {
    child.once('spawn', () => res());
    child.once('error', (e) => rej(new Error(`cannot start qemu (apt-get install ${QEMU_PACKAGES.join(' ')}): ${e.message}`)));
  });

  const describe = (): string =>
    `qemu ${exitCode === undefined ? 'running' : `exited ${exitCode}`}; stderr: ${stderr.trim() || '(none)'}\n--- serial tail ---\n${serial.slice(-2000)}`;

  return {
    startedAt,
    pid: child.pid!,
    argv,
    serialText: () => serial,
    exited: () => exited,
    waitForSerial(re: RegExp, timeoutMs: number): Promise<string> {
      return new Promise((resolveWait, rejectWait) => {
        const check = (): void => {
          const m = re.exec(serial);
          if (m) done(() => resolveWait(m[0]));
          else if (exitCode !== undefined) done(() => rejectWait(new Error(`serial never matched ${re}: ${describe()}`)));
        };
        const timer = setTimeout(
          () => done(() => rejectWait(new Error(`timed out after ${timeoutMs} ms waiting for ${re}: ${describe()}`))),
          timeoutMs,
        );
        const done = (f: () => void): void => {
          clearTimeout(timer);
          watchers.delete(check);
          f();
        };
        watchers.add(check);
        check();
      });
    },
    async waitForHttp(url: string, timeoutMs: number) {
      const host = new URL(url).hostname;
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
        throw new Error(`waitForHttp: ${url} is not on loopback; reach guests through hostfwd on 127.0.0.1`);
      }
      const deadline = Date.now() + timeoutMs;
      let last = 'no attempt';
      // Attempts overlap: a new one starts every 50 ms whatever the earlier ones are doing, and the first answer
      // wins. One at a time, an attempt that hangs (slirp forwards the connection to the guest's DHCP address
      // before the guest has configured it, and that SYN goes unanswered) hid for up to its 5 s timeout that the
      // guest answered meanwhile: the boot benchmarks read up to 5 s late. Every 50 ms rather than 250: a boot
      // figure is up to one interval late, and 250 ms was a tenth of the floor's 2.5 s (bench/floor.ts), which the
      // other boots are read against. At most 5 s × 20/s = 100 attempts hang at once, under the cap.
      const done = new AbortController();
      let inFlight = 0;
      return await new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
        const finish = (f: () => void): void => {
          if (done.signal.aborted) return;
          clearInterval(timer);
          done.abort();
          f();
        };
        const attempt = async (): Promise<void> => {
          if (done.signal.aborted) return;
          if (exitCode !== undefined) return finish(() => reject(new Error(`waitForHttp ${url}: ${describe()}`)));
          if (Date.now() >= deadline) {
            return finish(() =>
              reject(new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last error: ${last}): ${describe()}`)),
            );
          }
          if (inFlight >= 128) return;
          inFlight++;
          try {
            const timeout = AbortSignal.timeout(Math.max(500, Math.min(5000, deadline - Date.now())));
            const res = await fetch(url, { signal: AbortSignal.any([done.signal, timeout]) });
            const body = await res.text();
            const ms = Date.now() - startedAt;
            finish(() => resolve({ status: res.status, body, ms }));
          } catch (e) {
            if (!done.signal.aborted) last = (e as Error).message;
          } finally {
            inFlight--;
          }
        };
        const timer = setInterval(() => void attempt(), 50);
        void attempt();
      });
    },
    async stop(): Promise<void> {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port that is free on 127.0.0.1 right now (for hostfwd). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}
