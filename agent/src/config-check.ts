/**
 * `node agent.mjs --check-config FILE`: validates an agent config file (the
 * file the builder installs as /etc/ironic-python-agent/ramforge.json)
 * without starting the agent. The checks are the loader's own
 * (readConfigObject in config-load.ts), so a file that passes here loads at
 * boot, and the other way round. Loaded only for this mode (main.ts imports
 * it lazily).
 *
 * Exit 0 with "FILE: ok" on stderr when valid; exit 2 with one line per
 * problem on stderr otherwise ("FILE: listenPrt: unknown option (did you
 * mean "listenPort"?)", "FILE: apiUrl[1]: expected an http(s):// URL ...").
 */
import { readFile } from 'node:fs/promises';
import { readConfigObject } from './config-load.js';

/** Every problem of the config file at `file`, one line each (empty when valid). */
export async function checkConfigFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return [`${file}: cannot read the file: ${(e as Error).message}`];
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return [`${file}: not valid JSON (${(e as Error).message})`];
  }
  return readConfigObject(data).problems.map((p) => `${file}: ${p.key ? `${p.key}: ` : ''}${p.message}`);
}

/** argv after `--check-config` (or `--check-config=FILE` as argv[0]); returns the exit code. */
export async function checkConfigMain(
  argv: string[],
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  const inline = argv[0]?.startsWith('--check-config=') ? argv[0].slice('--check-config='.length) : undefined;
  const files = inline !== undefined ? [inline, ...argv.slice(1)] : argv.slice(1);
  if (files.length !== 1 || !files[0]) {
    write('usage: agent --check-config FILE   (validates an agent config file; exit 0 valid, 2 invalid)');
    return 2;
  }
  const problems = await checkConfigFile(files[0]);
  for (const line of problems) write(line);
  if (problems.length) return 2;
  write(`${files[0]}: ok`);
  return 0;
}
