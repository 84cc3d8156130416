/**
 * Run one phase: `unshare` makes private mount and PID namespaces, the
 * runtime/enter-phase.bash script mounts what the phase needs (and chroots
 * for the in-target phases), and runtime/run-parts.bash sources
 * environment.d and runs the scripts in the order the runner gives. Output
 * is streamed to the log line by line; fd 3 carries the progress markers
 * that time each script and name the one that fails.
 *
 * Why namespaces rather than mount + umount in a finally: a mount made in
 * a private namespace disappears with its last process, so no failure, abort
 * or killed ramforge can leave /proc or the hook tree mounted in the root
 * (a later `rm -rf` of the workspace would then walk into the host's /dev).
 * The PID namespace ends every process a script left running (a daemon
 * started by a postinst) when the phase ends.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { BuildError } from '../../../errors.js';
import { traceCommand } from '../../../exec/run.js';
import type { Phase } from './phases.js';
import { ElementScriptError, LineTail } from './script-error.js';

export const RUNTIME_DIR = fileURLToPath(new URL('../runtime/', import.meta.url));

export interface PhaseRun {
  phase: Phase;
  root: string;
  hooks: string;
  /** environment.d file names, in order. */
  envFiles: string[];
  /** Script names, in order. */
  scripts: string[];
  env: Record<string, string>;
  unshare: string;
  /** Flags that also make a user namespace (an ordinary user's build, userns.ts); none as root. */
  userFlags?: string[];
  /**
   * Host directories bound over the root's apt package cache and lists while
   * in-target phases run (DIB's DIB_APT_LOCAL_CACHE): downloads are kept
   * across builds and never land in the image. Absent: none.
   */
  aptCache?: { archives: string; lists: string };
  /**
   * Host path of a Node binary bound read-only on the hook tree's
   * ramforge-runtime/node while in-target phases run (helper-runtime.ts:
   * what the pkg-map command runs on). Absent: none.
   */
  node?: string;
  /** The element a phase script or environment file (relative to the hook tree) comes from. */
  elementOf: (relPath: string) => string;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface ScriptTiming {
  phase: string;
  element: string;
  script: string;
  seconds: number;
}

/** The argv of a phase (pure; the unit test checks it). */
export function phaseArgv(
  r: Pick<PhaseRun, 'phase' | 'root' | 'hooks' | 'envFiles' | 'scripts' | 'unshare' | 'userFlags' | 'aptCache' | 'node'>,
): string[] {
  const inTarget = r.phase.chroot;
  const phaseDir = inTarget ? `/tmp/in_target.d/${r.phase.name}` : `${r.hooks}/${r.phase.name}`;
  const envDir = inTarget ? '/tmp/in_target.d/environment.d' : `${r.hooks}/environment.d`;
  return [
    r.unshare,
    ...(r.userFlags ?? []),
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    '/bin/bash',
    `${RUNTIME_DIR}enter-phase.bash`,
    r.root,
    r.hooks,
    r.phase.mounts ? '1' : '0',
    inTarget ? '1' : '0',
    inTarget && r.aptCache ? r.aptCache.archives : '',
    inTarget && r.aptCache ? r.aptCache.lists : '',
    inTarget && r.node ? r.node : '',
    '--',
    phaseDir,
    envDir,
    String(r.envFiles.length),
    ...r.envFiles,
    ...r.scripts,
  ];
}

function eachLine(stream: Readable | null, onLine: (line: string) => void): () => void {
  let buf = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  return () => {
    if (buf !== '') onLine(buf);
    buf = '';
  };
}

/** Run the phase; resolves with each script's time, rejects with ElementScriptError on the first failure. */
export function runPhase(r: PhaseRun): Promise<ScriptTiming[]> {
  const argv = phaseArgv(r);
  traceCommand?.(argv);
  const name = r.phase.name;
  return new Promise((resolve, reject) => {
    if (r.signal.aborted) return reject(abortError(name, r.signal));
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: r.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // its own process group: an abort kills all of it
    });
    const timings: ScriptTiming[] = [];
    const tail = new LineTail();
    let current: { kind: 'script' | 'environment'; name: string; started: number } | undefined;
    let envDone = false;
    let lastEnd: { name: string; rc: number } | undefined;
    const label = () => (current ? `${name}/${current.name}` : name);
    const onOutput = (line: string) => {
      tail.push(line);
      r.log(`${label()}: ${line}`);
    };
    const flushOut = eachLine(child.stdout, onOutput);
    const flushErr = eachLine(child.stderr, onOutput);
    eachLine(child.stdio[3] as Readable, (m) => {
      const [what, arg = '', rc] = m.split(' ');
      if (what === 'env') current = { kind: 'environment', name: arg, started: Date.now() };
      else if (what === 'envdone') {
        envDone = true;
        current = undefined;
      } else if (what === 'start') {
        tail.reset();
        current = { kind: 'script', name: arg, started: Date.now() };
      } else if (what === 'end' && current) {
        const seconds = (Date.now() - current.started) / 1000;
        timings.push({ phase: name, element: r.elementOf(`${name}/${arg}`), script: arg, seconds });
        lastEnd = { name: arg, rc: Number(rc) };
        if (lastEnd.rc === 0) current = undefined;
      }
    });
    const onAbort = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    r.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      r.signal.removeEventListener('abort', onAbort);
      reject(new BuildError(`${name}: could not start ${argv[0]}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      r.signal.removeEventListener('abort', onAbort);
      flushOut();
      flushErr();
      if (r.signal.aborted) return reject(abortError(name, r.signal));
      if (code === 0) return resolve(timings);
      if (current) {
        const rel = current.kind === 'environment' ? `environment.d/${current.name}` : `${name}/${current.name}`;
        const exitCode = lastEnd && lastEnd.name === current.name ? lastEnd.rc : code;
        return reject(
          new ElementScriptError({
            element: r.elementOf(rel),
            phase: name,
            script: current.name,
            kind: current.kind,
            exitCode,
            signal: lastEnd ? null : signal,
            tail: tail.get(),
          }),
        );
      }
      const where = envDone ? 'after its scripts' : 'before its environment was read (mounting or entering the root)';
      reject(
        new BuildError(`${name}: the phase failed ${where}: ${signal ? `killed by ${signal}` : `exit code ${code}`}`, {
          hint: `its output ended with: ${tail.get().slice(-5).join(' / ') || '(nothing)'}`,
        }),
      );
    });
  });
}

function abortError(phase: string, signal: AbortSignal): Error {
  const reason = signal.reason instanceof Error ? signal.reason : undefined;
  return reason ?? new BuildError(`${phase}: aborted`);
}
