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
 *
 * A FILE ending in .conf is checked as one of IPA's INI files with
 * config-ini.ts's own rules: a syntax error, a bad value, an option of
 * another section or an option the agent does not know are each a problem
 * here, although at boot they are only logged and skipped.
 */
import { readFile } from 'node:fs/promises';
import { iniValues, parseOsloIni } from './config-ini.js';
import { convertValue, readConfigObject } from './config-load.js';

function checkIniText(file: string, text: string): string[] {
  const parsed = parseOsloIni(text);
  if (!parsed.ok) return [`${file}:${parsed.line}: ${parsed.reason}`];
  const problems: string[] = [];
  const note = (m: string): void => {
    problems.push(m.replace(/ ignored(?=:|$| \()/, ' (ignored at boot)'));
  };
  iniValues(parsed.assignments, file, {
    root: '/',
    log: { debug: note, info: () => {}, warn: note, error: note },
    convert: (raw, spec) => {
      const r = convertValue(raw, spec.kind);
      return r.problem ? { problem: { expected: r.problem.expected } } : { value: r.value };
    },
  });
  return problems;
}

/** Every problem of the config file at `file`, one line each (empty when valid). */
export async function checkConfigFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return [`${file}: cannot read the file: ${(e as Error).message}`];
  }
  if (file.endsWith('.conf')) return checkIniText(file, text);
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
    write('usage: agent --check-config FILE   (validates an agent config file, JSON or IPA INI *.conf; exit 0 valid, 2 invalid)');
    return 2;
  }
  const problems = await checkConfigFile(files[0]);
  for (const line of problems) write(line);
  if (problems.length) return 2;
  write(`${files[0]}: ok`);
  return 0;
}
