/**
 * The one door through which inventory code sees the machine: file reads,
 * symlinks, directory listings and commands. With a root other than '/',
 * every path is read under that root and every command's output comes from
 * <root>/.commands/<key>.out, so a recorded fixture tree replays a machine.
 */
import { constants } from 'node:fs';
import { access, lstat, readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExecError, execute } from '../../util/exec.js';
import type { ProgramRunner, ExecOptions, ExecResult } from '../../util/exec.js';

export interface HostAccess {
  /** '/' on a live machine, a fixture directory otherwise. */
  readonly root: string;
  /** True when commands are replayed from <root>/.commands. */
  readonly replay: boolean;
  /** File content, or undefined when it is missing or unreadable. */
  readText(p: string): Promise<string | undefined>;
  /** Target of a symlink as stored, or undefined. */
  readLink(p: string): Promise<string | undefined>;
  /** Path after resolving symlinks, relative to the root ('/…'), or undefined. */
  realPath(p: string): Promise<string | undefined>;
  /** lstat semantics: a dangling symlink exists (fixtures keep only what was read). */
  exists(p: string): Promise<boolean>;
  /** Sorted entry names; [] when the directory is missing. */
  listDir(p: string): Promise<string[]>;
  /** A char device; in replay mode any entry counts (git cannot store device nodes). */
  isCharDevice(p: string): Promise<boolean>;
  /** Whether a program is installed (live: on PATH; replay: recorded). */
  hasCommand(name: string): Promise<boolean>;
  run: ProgramRunner;
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** File name of a recorded command: argv joined by '_', unsafe characters replaced. */
export function commandKey(argv: string[]): string {
  return argv
    .join(' ')
    .replace(/[^A-Za-z0-9.,=+:-]/g, '_')
    .slice(0, 200);
}

export function createHostAccess(o: { root?: string; run?: ProgramRunner } = {}): HostAccess {
  const root = path.resolve(o.root ?? '/');
  const replay = root !== '/';
  const at = (p: string): string => path.join(root, p);
  const host: HostAccess = {
    root,
    replay,
    readText: async (p) => {
      try {
        return await readFile(at(p), 'utf8');
      } catch {
        return undefined;
      }
    },
    readLink: async (p) => {
      try {
        return await readlink(at(p));
      } catch {
        return undefined;
      }
    },
    realPath: async (p) => {
      try {
        const r = await realpath(at(p));
        const rel = path.relative(root, r);
        return rel.startsWith('..') ? undefined : '/' + rel;
      } catch {
        return undefined;
      }
    },
    exists: async (p) => {
      try {
        await lstat(at(p));
        return true;
      } catch {
        return false;
      }
    },
    listDir: async (p) => {
      try {
        return (await readdir(at(p))).filter((n) => !replay || n !== '.keep').sort();
      } catch {
        return [];
      }
    },
    isCharDevice: async (p) => {
      try {
        const s = await stat(at(p));
        return s.isCharacterDevice() || (replay && s.isFile());
      } catch {
        return false;
      }
    },
    hasCommand: replay ? (name) => hasRecordedCommand(root, name) : hasLiveCommand,
    run: o.run ?? (replay ? replayCommand(root) : execute),
  };
  return host;
}

/** Whether `name` is an executable on PATH or in the usual sbin/bin directories. */
export async function hasLiveCommand(name: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_PATH];
  for (const d of new Set(dirs)) {
    try {
      await access(path.join(d, name), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

async function hasRecordedCommand(root: string, name: string): Promise<boolean> {
  const key = commandKey([name]);
  const names = await readdir(path.join(root, '.commands')).catch(() => [] as string[]);
  return names.some((n) => n.startsWith(key + '_') || n.startsWith(key + '.'));
}

/**
 * Replays <key>.out (stdout), optional <key>.err (stderr) and <key>.rc (exit
 * code, default 0). No recording means the program is absent, as ENOENT would.
 */
function replayCommand(root: string): ProgramRunner {
  return async (argv: string[], opts: ExecOptions = {}): Promise<ExecResult> => {
    const base = path.join(root, '.commands', commandKey(argv));
    const read = (ext: string) => readFile(base + ext, 'utf8').catch(() => undefined);
    const [stdout, stderr, rc] = await Promise.all([read('.out'), read('.err'), read('.rc')]);
    if (stdout === undefined && rc === undefined) {
      throw new ExecError(argv, null, '', `spawn ${argv[0]} ENOENT (no recording ${base}.out)`);
    }
    const code = rc === undefined ? 0 : Number(rc.trim());
    const res = { stdout: stdout ?? '', stderr: stderr ?? '', code };
    if (!(opts.okCodes ?? [0]).includes(code)) throw new ExecError(argv, code, res.stdout, res.stderr);
    return res;
  };
}

/** Runs a command; undefined when it is missing or fails (the caller falls back). */
export async function tryRun(host: HostAccess, argv: string[], opts?: ExecOptions): Promise<string | undefined> {
  try {
    return (await host.run(argv, opts)).stdout;
  } catch {
    return undefined;
  }
}
