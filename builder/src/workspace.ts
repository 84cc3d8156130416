/**
 * The build's workspace: where it goes (workspaceRoot), who owns it (an
 * owner file in each), and the sweep that removes the workspaces of builds
 * that are gone (killed before their own cleanup ran: SIGKILL, a second
 * Ctrl-C, a reboot).
 *
 * Written here rather than taken from a library: the question "is the
 * process that made this directory still running" needs the host, the
 * machine, the boot, the PID namespace and the pid together (lock-file
 * libraries check a pid, or an mtime, which both misjudge a build in
 * another container or on another NFS client).
 */
import { readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { mountsUnder } from './host/mounts.js';

/**
 * Where the workspace goes: <parent of output>/.workspace, on output/'s
 * filesystem, because publishing renames the finished tree into output/ and
 * rename() works within one filesystem only. When output/ exists and is a
 * filesystem of its own (a mount point: another disk, NFS, a bind mount),
 * its parent is not: then <output>/.workspace, removed again when empty.
 * `devOf` is stat's st_dev (a parameter for the unit test).
 */
export async function workspaceRoot(
  outputRoot: string,
  devOf: (path: string) => Promise<number | undefined> = (p) =>
    stat(p).then(
      (st) => st.dev,
      () => undefined,
    ),
): Promise<{ root: string; insideOutput: boolean }> {
  const beside = join(dirname(outputRoot), '.workspace');
  const out = await devOf(outputRoot);
  if (out === undefined || out === (await devOf(dirname(outputRoot)))) return { root: beside, insideOutput: false };
  return { root: join(outputRoot, '.workspace'), insideOutput: true };
}

/** In each workspace: who made it and for what, so a later build can tell one whose build is gone. */
export const OWNER_FILE = '.owner.json';

export interface WorkspaceOwner {
  host: string;
  /** /etc/machine-id ('' when unreadable: never swept then). */
  machine: string;
  /** /proc/sys/kernel/random/boot_id. */
  boot: string;
  /** The PID namespace (/proc/self/ns/pid's link): a pid means something only inside it. */
  pidns: string;
  pid: number;
  /** When the workspace was made (ms since 1970). */
  created: number;
  /** --keep-workspace: never swept, whatever happens to the build. */
  keep?: boolean;
  /** output/<name>/ of the build (for the message about a `previous/` tree). */
  output?: string;
}

const readTrim = (p: string): Promise<string> =>
  readFile(p, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );

export async function currentOwner(extra: { keep?: boolean; output?: string } = {}): Promise<WorkspaceOwner> {
  return {
    host: hostname(),
    machine: await readTrim('/etc/machine-id'),
    boot: await readTrim('/proc/sys/kernel/random/boot_id'),
    pidns: await readlink('/proc/self/ns/pid').catch(() => ''),
    pid: process.pid,
    created: Date.now(),
    ...(extra.keep ? { keep: true } : {}),
    ...(extra.output ? { output: extra.output } : {}),
  };
}

/** Boot time of this machine (ms since 1970), from /proc/stat's btime; 0 when unknown. */
async function bootTime(): Promise<number> {
  const m = /^btime (\d+)$/m.exec(await readTrim('/proc/stat'));
  return m ? Number(m[1]) * 1000 : 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export interface SweepProbes {
  isAlive: (pid: number) => boolean;
  /** This machine's boot time, ms. */
  bootedAt: number;
  mountsUnder: (dir: string) => Promise<string[]>;
}

/**
 * Removes the workspaces of builds that are gone. A workspace is judged only
 * when its owner is this machine as seen from this PID namespace (same
 * host name, machine id and PID namespace: the root may be on NFS shared
 * with other machines, or bind-mounted into containers with pid tables of
 * their own); it is gone when its boot is not this one and it was made
 * before this boot (a cloned VM with the same machine id, running now, made
 * its workspace after this boot), or when its pid no longer runs. Never
 * removed: a kept workspace (`keep`), one without a readable owner file or
 * with an unknown field, one with a mount under it. One that holds
 * `previous/` (the build was killed between publishing's two renames, so
 * that is the last output tree, moved aside) is left and listed in `held`.
 */
export async function sweepStaleWorkspaces(
  root: string,
  me: WorkspaceOwner,
  probes: Partial<SweepProbes> = {},
): Promise<{ removed: string[]; held: { dir: string; output: string | undefined }[] }> {
  const isAlive = probes.isAlive ?? alive;
  const bootedAt = probes.bootedAt ?? (await bootTime());
  // Never walk into a mounted filesystem.
  const mounts = probes.mountsUnder ?? (async (dir: string) => mountsUnder(dir));
  const removed: string[] = [];
  const held: { dir: string; output: string | undefined }[] = [];
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const dir = join(root, name);
    let owner: Partial<WorkspaceOwner>;
    try {
      owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as Partial<WorkspaceOwner>;
    } catch {
      continue;
    }
    if (owner.keep) continue;
    if (!me.host || !me.machine || !me.pidns || !me.boot) continue;
    if (owner.host !== me.host || owner.machine !== me.machine || owner.pidns !== me.pidns) continue;
    if (typeof owner.pid !== 'number' || typeof owner.created !== 'number') continue;
    const gone = owner.boot === me.boot ? owner.pid !== me.pid && !isAlive(owner.pid) : bootedAt > 0 && owner.created < bootedAt;
    if (!gone) continue;
    if ((await mounts(dir)).length > 0) continue;
    if (
      await stat(join(dir, 'previous')).then(
        () => true,
        () => false,
      )
    ) {
      held.push({ dir, output: owner.output });
      continue;
    }
    try {
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Not ours to remove after all (files of another user, or a rootless build's subordinate uids): leave it.
    }
  }
  return { removed, held };
}
