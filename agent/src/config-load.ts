/**
 * loadConfig(): defaults < JSON config file < kernel command line (plus the
 * vmedia floppy's parameters.txt when boot_method=vmedia) < flags.
 * Every bad value becomes one ConfigError naming the source, the key and the
 * accepted form, so a ramdisk console shows why the agent did not start.
 */
import { readFile } from 'node:fs/promises';
import { createDefaultConfig, type AgentConfig } from './config.js';
import { ConfigError } from './errors.js';
import { parseKernelParams, readAgentParameters } from './vmedia.js';

export const DEFAULT_CONFIG_FILE = '/etc/ironic-python-agent/ramforge.json';

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
}

type Kind = 'string' | 'bool' | 'int' | 'number' | 'list' | 'port' | 'urls' | 'protocol' | 'apiVersion';
type Key = keyof AgentConfig;

/** Kernel parameters → config keys (ipa-protocol.md §9). Unknown ipa-* stay in config.cmdline. */
const PARAMS: ReadonlyArray<readonly [string, Key, Kind]> = [
  ['ipa-api-url', 'apiUrl', 'urls'],
  ['ipa-inspection-callback-url', 'inspectionCallbackUrl', 'urls'],
  ['ipa-inspection-collectors', 'inspectionCollectors', 'list'],
  ['ipa-inspection-dhcp-wait-timeout', 'inspectionDhcpWaitTimeout', 'number'],
  ['ipa-inspection-dhcp-all-interfaces', 'inspectionDhcpAllInterfaces', 'bool'],
  ['ipa-debug', 'debug', 'bool'],
  ['ipa-global-request-id', 'globalRequestId', 'string'],
  ['ipa-agent-token', 'agentToken', 'string'],
  ['ipa-listen-host', 'listenHost', 'string'],
  ['ipa-listen-port', 'listenPort', 'port'],
  ['ipa-advertise-host', 'advertiseHost', 'string'],
  ['ipa-advertise-port', 'advertisePort', 'port'],
  ['ipa-advertise-protocol', 'advertiseProtocol', 'protocol'],
  ['ipa-network-interface', 'networkInterface', 'string'],
  ['ipa-ip-lookup-attempts', 'ipLookupAttempts', 'int'],
  ['ipa-ip-lookup-timeout', 'ipLookupSleep', 'number'],
  ['ipa-lookup-timeout', 'lookupTimeout', 'number'],
  ['ipa-lookup-interval', 'lookupInterval', 'number'],
  ['ipa-ironic-api-version', 'ironicApiVersion', 'apiVersion'],
  ['ipa-insecure', 'insecure', 'bool'],
  ['ipa-collect-lldp', 'collectLldp', 'bool'],
  ['ipa-lldp-timeout', 'lldpTimeout', 'number'],
  ['ipa-hardware-initialization-delay', 'hardwareInitializationDelay', 'number'],
  ['ipa-disk-wait-attempts', 'diskWaitAttempts', 'int'],
  ['ipa-disk-wait-delay', 'diskWaitDelay', 'number'],
  ['ipa-ntp-server', 'ntpServer', 'string'],
  ['ipa-image-download-connection-timeout', 'imageDownloadConnectionTimeout', 'number'],
  ['ipa-image-download-connection-retries', 'imageDownloadConnectionRetries', 'int'],
  ['ipa-image-download-connection-retry-interval', 'imageDownloadConnectionRetryInterval', 'number'],
  ['ipa-image-download-max-duration', 'imageDownloadMaxDuration', 'number'],
  ['ipa-http-request-timeout', 'httpRequestTimeout', 'number'],
  ['ipa-ignore-bootloader-failure', 'ignoreBootloaderFailure', 'bool'],
  ['ipa-inject-files-priority', 'injectFilesPriority', 'int'],
  ['ipa-use-mdns', 'useMdns', 'bool'],
  // ramforge extensions (IPA only has these as config-file options).
  ['ipa-enable-auto-tls', 'enableAutoTls', 'bool'],
  ['ipa-listen-tls', 'listenTls', 'bool'],
  ['ipa-tls-cert-file', 'tlsCertFile', 'string'],
  ['ipa-tls-key-file', 'tlsKeyFile', 'string'],
  ['ipa-cafile', 'cafile', 'string'],
  ['ipa-disk-erasure-concurrency', 'diskErasureConcurrency', 'int'],
  ['ipa-standalone', 'standalone', 'bool'],
  ['BOOTIF', 'bootif', 'string'],
  ['boot_method', 'bootMethod', 'string'],
];

/** Kind of every config key, for the JSON config file. */
const KEY_KINDS: Partial<Record<Key, Kind>> = Object.fromEntries(PARAMS.map(([, k, kind]) => [k, kind]));
Object.assign(KEY_KINDS, {
  md5Enabled: 'bool', hardwareManagersDir: 'string', hardwareManagerPackages: 'list', rootPath: 'string',
} satisfies Partial<Record<Key, Kind>>);

// oslo.config's BoolOpt spellings.
const TRUE = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** Convert one raw value; `where` names the source for the error message. */
function convertValue(raw: unknown, kind: Kind, where: string): unknown {
  const fail = (form: string): never => {
    throw new ConfigError(`${where}: invalid value ${JSON.stringify(raw)}: expected ${form}. Fix the value or remove it to use the default.`);
  };
  if (kind === 'list' || kind === 'urls') {
    const items = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',') : fail('a comma-separated list');
    const list = items.map((s) => s.trim()).filter(Boolean);
    if (kind === 'urls') for (const u of list) if (!/^(mdns|https?:\/\/.+)$/.test(u)) fail('comma-separated http(s):// URLs or "mdns"');
    return list.map((u) => (kind === 'urls' && u !== 'mdns' ? u.replace(/\/+$/, '') : u));
  }
  if (kind === 'bool') {
    if (typeof raw === 'boolean') return raw;
    const s = String(raw).trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
    return fail('a boolean (1/0, true/false, yes/no, on/off)');
  }
  if (kind === 'int' || kind === 'number' || kind === 'port') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < 0) return fail('a non-negative number');
    if (kind !== 'number' && !Number.isInteger(n)) return fail('a whole number');
    if (kind === 'port' && n > 65535) return fail('a TCP port 0-65535');
    return n;
  }
  if (typeof raw !== 'string') return fail('a string');
  if (kind === 'protocol' && raw !== 'http' && raw !== 'https') return fail('"http" or "https"');
  if (kind === 'apiVersion' && !/^1\.\d+$/.test(raw)) return fail('an Ironic API microversion like "1.68"');
  return raw === '' ? undefined : raw;
}

/** Apply kernel/floppy parameters onto cfg. */
function applyParams(cfg: AgentConfig, params: Record<string, string>, source: string): void {
  for (const [param, key, kind] of PARAMS) {
    if (params[param] === undefined) continue;
    (cfg as unknown as Record<string, unknown>)[key] = convertValue(params[param], kind, `${source}: ${param}`);
  }
}

/** Apply a JSON config file: keys are AgentConfig names (camelCase) or IPA option names (snake_case). */
function applyConfigFile(cfg: AgentConfig, data: unknown, file: string): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`${file}: expected a JSON object of agent options, e.g. {"apiUrl": ["http://ironic:6385"]}`);
  }
  for (const [rawKey, value] of Object.entries(data)) {
    const key = rawKey.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) as Key;
    const kind = KEY_KINDS[key];
    if (!kind) {
      throw new ConfigError(`${file}: unknown option "${rawKey}". Known: ${Object.keys(KEY_KINDS).sort().join(', ')}`);
    }
    (cfg as unknown as Record<string, unknown>)[key] = convertValue(value, kind, `${file}: ${rawKey}`);
  }
}

interface Flags { values: Partial<Record<Key, unknown>>; configFile?: string; cmdlinePath?: string }

const FLAG_KEYS: Record<string, [Key, Kind] | 'config' | 'cmdline'> = {
  '--standalone': ['standalone', 'bool'],
  '--debug': ['debug', 'bool'],
  '--config': 'config',
  '--cmdline': 'cmdline',
  '--listen-port': ['listenPort', 'port'],
  '--listen-host': ['listenHost', 'string'],
  '--api-url': ['apiUrl', 'urls'],
  '--root-path': ['rootPath', 'string'],
  '--hardware-managers-dir': ['hardwareManagersDir', 'string'],
};

/** Parse flags: `--flag value`, `--flag=value`; the two booleans take no value. */
export function parseFlags(argv: string[]): Flags {
  const flags: Flags = { values: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = FLAG_KEYS[name];
    if (!spec) throw new ConfigError(`unknown flag "${arg}". Known flags: ${Object.keys(FLAG_KEYS).join(', ')}`);
    const isBool = Array.isArray(spec) && spec[1] === 'bool';
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined && !isBool) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag ${name} needs a value`);
    }
    if (spec === 'config') flags.configFile = value;
    else if (spec === 'cmdline') flags.cmdlinePath = value;
    else flags.values[spec[0]] = convertValue(value ?? 'true', spec[1], `flag ${name}`);
  }
  return flags;
}

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

  const cmdlinePath = flags.cmdlinePath ?? o.cmdlinePath ?? '/proc/cmdline';
  // /proc/cmdline always exists on Linux; elsewhere (a developer laptop) an absent file means "no parameters".
  const cmdlineText = (await readOptional(cmdlinePath, flags.cmdlinePath !== undefined, 'kernel command line')) ?? '';
  const params = await readAgentParameters({ cmdline: parseKernelParams(cmdlineText), readFloppy: o.readVmedia });
  cfg.cmdline = params;
  applyParams(cfg, params, cmdlinePath);

  Object.assign(cfg, flags.values);
  if (o.env?.RAMFORGE_AGENT_DEBUG) cfg.debug = convertValue(o.env.RAMFORGE_AGENT_DEBUG, 'bool', 'env RAMFORGE_AGENT_DEBUG') as boolean;
  validateConfig(cfg);
  return cfg;
}

/** Cross-field checks. */
function validateConfig(cfg: AgentConfig): void {
  if (cfg.listenTls && (!cfg.tlsCertFile || !cfg.tlsKeyFile)) {
    throw new ConfigError('listen TLS is on but tlsCertFile/tlsKeyFile are not both set: give both files or turn listenTls off');
  }
}

