/**
 * The system logs archive (IPA utils.collect_system_logs): a base64 tar.gz
 * of the journal (or /var/log when there is no systemd) plus the output of
 * the diagnostic commands IPA collects. Used by the log.collect_system_logs
 * command and by inspection's "logs" collector. The conductor waits at most
 * 60 s for that sync command, so every program gets a time limit and they
 * run in parallel; a missing program becomes a line in its file instead of a
 * failure.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execute, type ProgramRunner } from './exec.js';

/** File name in the archive → argv (IPA's COLLECT_LOGS_COMMANDS plus dmesg and efibootmgr). */
export const LOG_COMMANDS: Record<string, string[]> = {
  ps: ['ps', 'au'],
  df: ['df', '-a'],
  iptables: ['iptables', '-L'],
  ip_addr: ['ip', 'addr'],
  lshw: ['lshw', '-quiet', '-json'],
  lsblk: ['lsblk', '--all', '-o', 'KNAME,MODEL,SIZE,ROTA,TYPE,UUID,PARTUUID,SERIAL,WWN,LABEL,FSTYPE,MOUNTPOINT'],
  mdstat: ['cat', '/proc/mdstat'],
  mount: ['mount'],
  parted: ['parted', '-l'],
  multipath: ['multipath', '-ll'],
  dmesg: ['dmesg'],
  efibootmgr: ['efibootmgr', '-v'],
};

const PER_COMMAND_TIMEOUT_MS = 15_000;
/** Cap per file from /var/log: the tarball travels inside one JSON answer. */
const MAX_LOG_FILE = 8 << 20;

export interface CollectLogsOptions {
  run?: ProgramRunner;
  /** Filesystem root for /var/log (tests). */
  root?: string;
  /** Epoch seconds for every entry's mtime. */
  now?: number;
}

async function runForLog(run: ProgramRunner, argv: string[]): Promise<string> {
  try {
    const r = await run(argv, { timeoutMs: PER_COMMAND_TIMEOUT_MS, okCodes: Array.from({ length: 256 }, (_v, i) => i) });
    return r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : '');
  } catch (e) {
    return `could not run ${argv.join(' ')}: ${(e as Error).message}\n`;
  }
}

/** Files directly under <root>/var/log and one level below (the journal-less fallback). */
async function readVarLog(root: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const p = join(dir, name);
      const st = await stat(p).catch(() => undefined);
      if (st?.isDirectory() && depth < 1) await walk(p, `${rel}/${name}`, depth + 1);
      else if (st?.isFile() && st.size <= MAX_LOG_FILE) {
        const data = await readFile(p).catch(() => undefined);
        if (data) out.push([`${rel}/${name}`, data]);
      }
    }
  };
  await walk(join(root, 'var/log'), 'var/log', 0);
  return out;
}

/** Build the archive; returns it base64-encoded (the wire format of system_logs and inspection's logs). */
export async function collectSystemLogs(o: CollectLogsOptions = {}): Promise<string> {
  const run = o.run ?? execute;
  const root = o.root ?? '/';
  const mtime = new Date((o.now ?? Date.now() / 1000) * 1000);
  const files: Array<[string, Buffer]> = [];
  const journal = await run(['journalctl', '--full', '--no-pager', '-b', '-n', '10000'], { timeoutMs: PER_COMMAND_TIMEOUT_MS }).then(
    (r) => r.stdout,
    () => undefined,
  );
  if (journal !== undefined) files.push(['journal', Buffer.from(journal)]);
  else files.push(...(await readVarLog(root)));
  const outputs = await Promise.all(Object.entries(LOG_COMMANDS).map(async ([name, argv]) => [name, await runForLog(run, argv)] as const));
  for (const [name, text] of outputs) files.push([name, Buffer.from(text)]);

  // Loaded on first use: only this command and inspection's log upload build archives (idle RSS).
  const [{ createGzip }, { default: tar }] = await Promise.all([import('node:zlib'), import('tar-stream')]);
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const gz = pack.pipe(createGzip());
  gz.on('data', (c: Buffer) => chunks.push(c));
  const finished = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
    pack.on('error', reject);
  });
  for (const [name, data] of files) pack.entry({ name, size: data.length, mode: 0o644, mtime }, data);
  pack.finalize();
  await finished;
  return Buffer.concat(chunks).toString('base64');
}
