/**
 * loadConfig(): the agent's configuration from every source, in the order of
 * CONFIG_SOURCES (later wins). Every bad value in the JSON file, the kernel
 * command line, the environment or a flag becomes one ConfigError naming the
 * source, the key and the accepted form, so a ramdisk console shows why the
 * agent did not start. IPA's INI files are the exception: as IPA's ramdisk
 * is configured by files Ironic writes onto virtual media, a bad file or
 * value there is logged (file and line) and skipped (config-ini.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import {
  CONFIG_OPTIONS,
  createDefaultConfig,
  type AgentConfig,
  type ConfigOptionName,
  type OptionKind,
  type OptionSpec,
} from './config.js';
import { defaultIniSources, readIpaConfigFiles, type IniSource } from './config-ini.js';
import { ConfigError } from './errors.js';
import { createConsoleLog, type Log } from './util/log.js';
import { parseKernelParams, readAgentParameters } from './vmedia.js';

export const DEFAULT_CONFIG_FILE = '/etc/ironic-python-agent/ramforge.json';

/**
 * The configuration sources, lowest precedence first: the one statement of
 * the order (README "The agent: configuration sources" repeats it).
 * ramforge's JSON file is built from the spec into the ramdisk (ramforge
 * only, IPA has none), so it sits just above the defaults, as a change of
 * defaults. The kernel command line comes next: IPA reads every kernel
 * parameter as its option's default (APARAMS.get(...) as `default=`), so
 * IPA's INI files, which oslo.config reads over the defaults, beat it. The
 * one exception is ipa-debug, which IPA applies with CONF.set_override: on
 * the kernel command line it wins over the INI files too.
 */
export const CONFIG_SOURCES = [
  "defaults (IPA's, config.ts CONFIG_OPTIONS)",
  `ramforge's JSON file (${DEFAULT_CONFIG_FILE}, or --config FILE)`,
  "the kernel command line (/proc/cmdline or --cmdline FILE; boot_method=vmedia adds the virtual floppy's parameters.txt): the defaults of IPA's options",
  "IPA's INI files: <root>/etc/ironic-python-agent.conf, then <root>/etc/ironic-python-agent.d/*.conf sorted (dotfiles skipped, as glob), then those of --config-file/--config-dir in the order given; a --config-file replaces only the default file, a --config-dir only the default directory ([DEFAULT] section); ipa-debug on the kernel command line still wins over them, as IPA's set_override",
  'the environment (RAMFORGE_AGENT_DEBUG, RAMFORGE_AGENT_DISKS, RAMFORGE_AGENT_STATE_DIR)',
  'command-line flags',
] as const;

export interface LoadConfigOptions {
  /** Flags (process.argv.slice(2)). */
  argv?: string[];
  /** Default /proc/cmdline; `--cmdline FILE` overrides it. */
  cmdlinePath?: string;
  /** Default DEFAULT_CONFIG_FILE; may be absent. `--config FILE` overrides it and must exist. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Reads parameters.txt from the virtual floppy (default: vmedia.ts readVmediaParameters); injectable for tests. */
  readVmedia?: () => Promise<Record<string, string>>;
  /**
   * Where IPA's INI files are looked for when neither --root-path nor the
   * JSON file's rootPath says (default "/"). A test's temp root.
   */
  root?: string;
  /** Where INI-file problems and skipped options are logged (default: stderr; debug lines only with --debug). */
  log?: Log;
}

type Key = ConfigOptionName;

/** Kernel parameters → config keys (ipa-protocol.md §9), from CONFIG_OPTIONS. Unknown ipa-* stay in config.cmdline. */
const PARAMS: ReadonlyArray<readonly [string, Key, OptionKind]> = Object.entries(CONFIG_OPTIONS)
  .filter(([, spec]) => 'param' in spec)
  .map(([key, spec]) => [(spec as OptionSpec).param!, key as Key, spec.kind] as const);

// oslo.config's BoolOpt spellings.
const TRUE = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** What a value of each kind must look like, as error messages say it. */
export const KIND_EXPECTED: Record<OptionKind, string> = {
  string: 'a string',
  text: 'a non-empty string',
  bool: 'a boolean (true/false; as a string also 1/0, yes/no, on/off)',
  int: 'a non-negative whole number',
  number: 'a non-negative number',
  port: 'a TCP port number 0-65535',
  list: 'a list of strings (a JSON array, or one comma-separated string)',
  urls: 'a list of http(s):// URLs or "mdns" (a JSON array, or one comma-separated string)',
  protocol: '"http" or "https"',
  apiVersion: 'an Ironic API microversion like "1.68"',
  tlsVersion: '"1.2" or "1.3"',
};

/** A value that does not fit its kind: `path` is "" or an index such as "[1]". */
export interface ValueProblem {
  path: string;
  expected: string;
  got: unknown;
}

type Converted = { value: unknown; problem?: undefined } | { problem: ValueProblem };

/** Convert one raw value (a JSON value, or a string from the command line or a flag) of `kind`. */
export function convertValue(raw: unknown, kind: OptionKind): Converted {
  const fail = (path = '', got: unknown = raw, expected = KIND_EXPECTED[kind]): Converted => ({ problem: { path, expected, got } });
  if (kind === 'list' || kind === 'urls') {
    if (!Array.isArray(raw) && typeof raw !== 'string') return fail();
    const items = Array.isArray(raw) ? raw : raw.split(',');
    const out: string[] = [];
    for (const [i, item] of items.entries()) {
      const at = Array.isArray(raw) ? `[${i}]` : '';
      if (typeof item !== 'string') return fail(at, item, kind === 'urls' ? 'an http(s):// URL or "mdns"' : 'a string');
      const s = item.trim();
      if (!s) continue;
      if (kind === 'urls' && !/^(mdns|https?:\/\/.+)$/.test(s)) return fail(at, item, 'an http(s):// URL or "mdns"');
      out.push(kind === 'urls' && s !== 'mdns' ? s.replace(/\/+$/, '') : s);
    }
    return { value: out };
  }
  if (kind === 'bool') {
    if (typeof raw === 'boolean') return { value: raw };
    if (typeof raw !== 'string') return fail();
    const s = raw.trim().toLowerCase();
    return TRUE.has(s) ? { value: true } : FALSE.has(s) ? { value: false } : fail();
  }
  if (kind === 'int' || kind === 'number' || kind === 'port') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < 0) return fail();
    if (kind !== 'number' && !Number.isInteger(n)) return fail();
    if (kind === 'port' && n > 65535) return fail();
    return { value: n };
  }
  if (typeof raw !== 'string') return fail();
  if (kind === 'text' && raw === '') return fail();
  if (kind === 'protocol' && raw !== 'http' && raw !== 'https') return fail();
  if (kind === 'apiVersion' && !/^1\.\d+$/.test(raw)) return fail();
  if (kind === 'tlsVersion' && raw !== '1.2' && raw !== '1.3') return fail();
  return { value: raw === '' ? undefined : raw };
}

/** Convert or throw a ConfigError naming `where` (the source and key), the value and the accepted form. */
function convertOrThrow(raw: unknown, kind: OptionKind, where: string): unknown {
  const r = convertValue(raw, kind);
  if (r.problem) {
    const p = r.problem;
    throw new ConfigError(
      `${where}${p.path}: invalid value ${JSON.stringify(p.got)}: expected ${p.expected}. Fix the value or remove it to use the default.`,
    );
  }
  return r.value;
}

/** Apply kernel/floppy parameters onto cfg. */
function applyParams(cfg: AgentConfig, params: Record<string, string>, source: string): void {
  for (const [param, key, kind] of PARAMS) {
    if (params[param] === undefined) continue;
    (cfg as unknown as Record<string, unknown>)[key] = convertOrThrow(params[param], kind, `${source}: ${param}`);
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_v, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

const toCamel = (k: string): string => k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const toSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The known option closest to `rawKey`, spelled as rawKey is (snake_case or camelCase); undefined if none is close. */
export function suggestOption(rawKey: string): string | undefined {
  const wanted = toCamel(rawKey).toLowerCase();
  let best: { key: string; d: number } | undefined;
  for (const key of Object.keys(CONFIG_OPTIONS)) {
    const d = editDistance(wanted, key.toLowerCase());
    if (!best || d < best.d) best = { key, d };
  }
  if (!best || best.d > Math.max(2, Math.floor(best.key.length / 3))) return undefined;
  return rawKey.includes('_') ? toSnake(best.key) : best.key;
}

/** One problem of a config file: `key` is the key as written (with an index for list items). */
export interface FileProblem {
  key: string;
  message: string;
}

/**
 * Check a parsed JSON config file: keys are AgentConfig names (camelCase) or
 * IPA option names (snake_case). Returns the converted values and every
 * problem (unknown keys with a did-you-mean, wrong types with the expected
 * one). The loader and `--check-config` share it, so they never disagree.
 */
export function readConfigObject(data: unknown): { values: Partial<AgentConfig>; problems: FileProblem[] } {
  const values: Record<string, unknown> = {};
  const problems: FileProblem[] = [];
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    problems.push({ key: '', message: 'expected a JSON object of agent options, e.g. {"apiUrl": ["http://ironic:6385"]}' });
    return { values, problems };
  }
  const seen = new Map<string, string>();
  for (const [rawKey, raw] of Object.entries(data)) {
    const key = toCamel(rawKey);
    if (!Object.hasOwn(CONFIG_OPTIONS, key)) {
      const hint = suggestOption(rawKey);
      problems.push({
        key: rawKey,
        message: `unknown option${hint ? ` (did you mean "${hint}"?)` : ': not an agent option (see README.md, "The agent")'}`,
      });
      continue;
    }
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ key: rawKey, message: `the same option as "${first}": give it once` });
      continue;
    }
    seen.set(key, rawKey);
    const r = convertValue(raw, CONFIG_OPTIONS[key as Key].kind);
    if (r.problem) {
      problems.push({ key: `${rawKey}${r.problem.path}`, message: `expected ${r.problem.expected}, got ${JSON.stringify(r.problem.got)}` });
    } else {
      values[key] = r.value;
    }
  }
  return { values: values as Partial<AgentConfig>, problems };
}

/** Apply a JSON config file; the first problem becomes a ConfigError naming the file and the key. */
function applyConfigFile(cfg: AgentConfig, data: unknown, file: string): void {
  const { values, problems } = readConfigObject(data);
  const p = problems[0];
  if (p) throw new ConfigError(`${file}: ${p.key ? `${p.key}: ` : ''}${p.message}`);
  Object.assign(cfg, values);
}

type FlagTarget = Key | 'disks';
interface Flags {
  values: Partial<Record<FlagTarget, unknown>>;
  configFile?: string;
  cmdlinePath?: string;
  /** oslo.config's --config-file / --config-dir (IPA's CLI), in the order given: --config-file replaces the default file, --config-dir the default directory. */
  ini: Array<{ file: string } | { dir: string }>;
}

const FLAG_KEYS: Record<string, readonly [FlagTarget, OptionKind] | 'config' | 'cmdline' | 'ini-file' | 'ini-dir'> = {
  '--standalone': ['standalone', 'bool'],
  '--debug': ['debug', 'bool'],
  '--config': 'config',
  '--cmdline': 'cmdline',
  '--config-file': 'ini-file',
  '--config-dir': 'ini-dir',
  '--listen-port': ['listenPort', 'port'],
  '--listen-host': ['listenHost', 'text'],
  '--api-url': ['apiUrl', 'urls'],
  '--root-path': ['rootPath', 'text'],
  '--hardware-managers-dir': ['hardwareManagersDir', 'text'],
  '--disks': ['disks', 'list'],
};

/** Parse flags: `--flag value`, `--flag=value`; the two booleans take no value. */
export function parseFlags(argv: string[]): Flags {
  const flags: Flags = { values: {}, ini: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = FLAG_KEYS[name];
    if (!spec) throw new ConfigError(`unknown flag "${arg}". Known flags: ${Object.keys(FLAG_KEYS).join(', ')}, --check-config FILE`);
    const isBool = Array.isArray(spec) && spec[1] === 'bool';
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined && !isBool) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag ${name} needs a value`);
    }
    if (spec === 'config') flags.configFile = value;
    else if (spec === 'ini-file') flags.ini.push({ file: value! });
    else if (spec === 'ini-dir') flags.ini.push({ dir: value! });
    else if (spec === 'cmdline') flags.cmdlinePath = value;
    else flags.values[spec[0]] = convertOrThrow(value ?? 'true', spec[1], `flag ${name}`);
  }
  return flags;
}

/**
 * The INI files to read, as oslo.config's _parse_config_files: the default
 * file unless a --config-file is given, the default directory unless a
 * --config-dir is given, then the flags' files and directories in the
 * order given.
 */
export function iniSources(root: string, given: IniSource[]): IniSource[] {
  const hasFile = given.some((s) => 'file' in s);
  const hasDir = given.some((s) => 'dir' in s);
  return [...defaultIniSources(root).filter((s) => ('file' in s ? !hasFile : !hasDir)), ...given];
}

/** "loop3" and "/dev/loop3" both name /dev/loop3. */
const toDevicePath = (d: string): string => (d.startsWith('/dev/') ? d : `/dev/${d}`);

async function readOptional(path: string, required: boolean, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}. Check the path given.`);
  }
}

/** Build the agent configuration from every source. Throws ConfigError on any unusable value. */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<AgentConfig> {
  const flags = parseFlags(o.argv ?? []);
  const cfg = createDefaultConfig();

  const configFile = flags.configFile ?? o.configFile ?? DEFAULT_CONFIG_FILE;
  // Only a file named with --config must exist; the default one is optional.
  const text = await readOptional(configFile, flags.configFile !== undefined, 'config file');
  if (text !== undefined) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${configFile}: not valid JSON (${(e as Error).message}). Fix the file or remove it.`);
    }
    applyConfigFile(cfg, data, configFile);
  }

  // IPA reads the kernel command line into its options' defaults (APARAMS.get(...) as `default=`),
  // so it sits below the INI files, which oslo.config reads over the defaults.
  const cmdlinePath = flags.cmdlinePath ?? o.cmdlinePath ?? '/proc/cmdline';
  // /proc/cmdline always exists on Linux; elsewhere (a developer laptop) an absent file means "no parameters".
  const cmdlineText = (await readOptional(cmdlinePath, flags.cmdlinePath !== undefined, 'kernel command line')) ?? '';
  const params = await readAgentParameters({ cmdline: parseKernelParams(cmdlineText), readFloppy: o.readVmedia });
  cfg.cmdline = params;
  applyParams(cfg, params, cmdlinePath);

  // As oslo.config: a file named with --config-file must exist (IPA stops when it does not).
  for (const src of flags.ini) if ('file' in src) await readOptional(src.file, true, 'config file (--config-file)');
  // And a --config-dir (oslo's ConfigDirNotFoundError); a missing default directory is skipped.
  for (const src of flags.ini) {
    if (
      'dir' in src &&
      !(await stat(src.dir).then(
        (st) => st.isDirectory(),
        () => false,
      ))
    ) {
      throw new ConfigError(`config directory (--config-dir) ${src.dir} does not exist or is not a directory. Check the path given.`);
    }
  }
  // IPA's INI files, under the root the agent is told to use (flag, then the JSON file, then the caller's).
  const root = (flags.values.rootPath as string | undefined) ?? (cfg.rootPath !== '/' ? cfg.rootPath : (o.root ?? '/'));
  // Without a caller's log, INI-file lines wait until debug (INI, ipa-debug, environment, flags) is known.
  const held: Array<[keyof Log, string]> = [];
  const log: Log = o.log ?? {
    debug: (m) => held.push(['debug', m]),
    info: (m) => held.push(['info', m]),
    warn: (m) => held.push(['warn', m]),
    error: (m) => held.push(['error', m]),
  };
  // Held INI-file lines are printed even when a later source or check throws: the file's
  // problem may be why the agent cannot start.
  try {
    Object.assign(
      cfg,
      await readIpaConfigFiles(root, {
        log,
        sources: iniSources(root, flags.ini),
        convert: (raw, spec) => {
          const r = convertValue(raw, spec.kind);
          return r.problem ? { problem: { expected: r.problem.expected } } : { value: r.value };
        },
      }),
    );
    // The one exception: IPA's cmd/agent.py applies ipa-debug with CONF.set_override, over the files.
    if (params[CONFIG_OPTIONS.debug.param] !== undefined) {
      cfg.debug = convertOrThrow(params[CONFIG_OPTIONS.debug.param], 'bool', `${cmdlinePath}: ${CONFIG_OPTIONS.debug.param}`) as boolean;
    }

    // The agent's own variables (RAMFORGE_AGENT_*) are read here and nowhere else.
    const env = o.env ?? {};
    if (env.RAMFORGE_AGENT_DEBUG) cfg.debug = convertOrThrow(env.RAMFORGE_AGENT_DEBUG, 'bool', 'env RAMFORGE_AGENT_DEBUG') as boolean;
    if (env.RAMFORGE_AGENT_DISKS) cfg.disks = convertOrThrow(env.RAMFORGE_AGENT_DISKS, 'list', 'env RAMFORGE_AGENT_DISKS') as string[];
    if (env.RAMFORGE_AGENT_STATE_DIR) cfg.stateDir = env.RAMFORGE_AGENT_STATE_DIR;
    Object.assign(cfg, flags.values);
    cfg.disks = cfg.disks.map(toDevicePath);
    validateConfig(cfg);
    return cfg;
  } finally {
    const stderrLog = createConsoleLog(cfg.debug);
    for (const [level, m] of held) stderrLog[level](m);
  }
}

/** Cross-field checks. */
function validateConfig(cfg: AgentConfig): void {
  if (cfg.listenTls && (!cfg.tlsCertFile || !cfg.tlsKeyFile)) {
    throw new ConfigError('listen TLS is on but tlsCertFile/tlsKeyFile are not both set: give both files or turn listenTls off');
  }
}
