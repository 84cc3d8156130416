/**
 * Agent configuration. The sources and their order are defined once, in
 * config-load.ts (CONFIG_SOURCES, applied in that order by loadConfig(), later
 * wins): defaults < ramforge's JSON file < kernel command line (+ the
 * virtual floppy) < IPA's INI files < environment < flags; ipa-debug on the
 * kernel command line beats the INI files (IPA's set_override).
 *
 * CONFIG_OPTIONS is the one definition of the options: their kind, IPA's
 * default and the kernel parameter that sets them. The AgentConfig type, the
 * defaults, the loader (config-load.ts), `--check-config` (config-check.ts)
 * and the JSON Schema of the config file (config-schema.ts) all derive from
 * it. It is plain data on purpose: the agent's normal start must not load a
 * schema library (idle RSS); config-schema.ts builds the TypeBox schema only
 * when asked.
 */

/**
 * How a value is written and what it becomes:
 *  - `string`: text, empty = not set (undefined); `text`: text that is always set
 *  - `bool`: true/false (or oslo.config's 1/0, yes/no, on/off as strings)
 *  - `int`, `number`: non-negative; `port`: 0-65535
 *  - `list`: strings (an array, or comma-separated); `urls`: http(s):// URLs or "mdns"
 *  - `protocol`: "http" or "https"; `apiVersion`: an Ironic microversion like "1.68"
 *  - `tlsVersion`: "1.2" or "1.3"
 */
export type OptionKind =
  | 'string'
  | 'text'
  | 'bool'
  | 'int'
  | 'number'
  | 'port'
  | 'list'
  | 'urls'
  | 'protocol'
  | 'apiVersion'
  | 'tlsVersion';

interface KindTypes {
  string: string | undefined;
  text: string;
  bool: boolean;
  int: number;
  number: number;
  port: number;
  list: string[];
  urls: string[];
  protocol: 'http' | 'https';
  apiVersion: string | undefined;
  tlsVersion: '1.2' | '1.3';
}

export interface OptionSpec {
  readonly kind: OptionKind;
  readonly default: KindTypes[OptionKind] | readonly string[];
  /** The kernel command-line parameter (ipa-protocol.md §9), if any. */
  readonly param?: string;
  /** One line for `--check-config` and the JSON Schema. */
  readonly doc?: string;
  /** IPA's option name in its INI files' [DEFAULT], when it is not the key in snake_case (see ipaOptionName). */
  readonly ipa?: string;
  /** A file path: absolute paths from IPA's INI files are taken under the agent's root (tests). */
  readonly path?: boolean;
}

/** Every option of the config file, by its AgentConfig (camelCase) name. */
export const CONFIG_OPTIONS = {
  apiUrl: { kind: 'urls', default: [], param: 'ipa-api-url', doc: 'Ironic API URLs, or "mdns" to look the API up over mDNS' },
  inspectionCallbackUrl: { kind: 'urls', default: [], param: 'ipa-inspection-callback-url' },
  // Empty means "not set": the inspector then uses IPA's default,logs. Kept
  // distinct because IPA master starts inspection when collectors are set
  // together with api_url.
  inspectionCollectors: { kind: 'list', default: [], param: 'ipa-inspection-collectors' },
  inspectionDhcpWaitTimeout: { kind: 'number', default: 60, param: 'ipa-inspection-dhcp-wait-timeout' },
  inspectionDhcpAllInterfaces: { kind: 'bool', default: false, param: 'ipa-inspection-dhcp-all-interfaces' },
  debug: { kind: 'bool', default: false, param: 'ipa-debug' },
  globalRequestId: { kind: 'string', default: undefined, param: 'ipa-global-request-id' },
  agentToken: { kind: 'string', default: undefined, param: 'ipa-agent-token' },
  listenHost: { kind: 'text', default: '::', param: 'ipa-listen-host' },
  listenPort: { kind: 'port', default: 9999, param: 'ipa-listen-port' },
  advertiseHost: { kind: 'string', default: undefined, param: 'ipa-advertise-host' },
  advertisePort: { kind: 'port', default: 9999, param: 'ipa-advertise-port' },
  advertiseProtocol: { kind: 'protocol', default: 'http', param: 'ipa-advertise-protocol' },
  networkInterface: { kind: 'string', default: undefined, param: 'ipa-network-interface' },
  ipLookupAttempts: { kind: 'int', default: 6, param: 'ipa-ip-lookup-attempts' },
  ipLookupSleep: { kind: 'number', default: 10, param: 'ipa-ip-lookup-timeout' },
  lookupTimeout: { kind: 'number', default: 600, param: 'ipa-lookup-timeout' },
  lookupInterval: { kind: 'number', default: 1, param: 'ipa-lookup-interval' },
  ironicApiVersion: { kind: 'apiVersion', default: undefined, param: 'ipa-ironic-api-version' },
  insecure: { kind: 'bool', default: false, param: 'ipa-insecure' },
  // IPA master's; Ironic's lookup may raise both (util/tls-policy.ts).
  tlsMinVersion: {
    kind: 'tlsVersion',
    default: '1.2',
    param: 'ipa-tls-min-version',
    doc: 'lowest TLS version of every connection, in and out ("1.3" = TLS 1.3 only)',
  },
  tlsCipherSuites: {
    kind: 'string',
    default: undefined,
    param: 'ipa-tls-cipher-suites',
    doc: 'OpenSSL cipher list allowed under TLS 1.2 (default: the ECDHE AES-GCM suites)',
  },
  collectLldp: { kind: 'bool', default: false, param: 'ipa-collect-lldp' },
  enableVlanInterfaces: {
    kind: 'list',
    default: [],
    param: 'ipa-enable-vlan-interfaces',
    doc: 'VLAN interfaces to create and list: "<interface or MAC>.<vlan id>", or an interface or "all" for the VLANs LLDP announces (needs collectLldp)',
  },
  lldpTimeout: { kind: 'number', default: 30, param: 'ipa-lldp-timeout' },
  hardwareInitializationDelay: { kind: 'number', default: 0, param: 'ipa-hardware-initialization-delay' },
  diskWaitAttempts: { kind: 'int', default: 10, param: 'ipa-disk-wait-attempts' },
  diskWaitDelay: { kind: 'number', default: 3, param: 'ipa-disk-wait-delay' },
  ntpServer: { kind: 'string', default: undefined, param: 'ipa-ntp-server' },
  imageDownloadConnectionTimeout: { kind: 'number', default: 60, param: 'ipa-image-download-connection-timeout' },
  imageDownloadConnectionRetries: { kind: 'int', default: 9, param: 'ipa-image-download-connection-retries' },
  imageDownloadConnectionRetryInterval: { kind: 'number', default: 10, param: 'ipa-image-download-connection-retry-interval' },
  imageDownloadMaxDuration: { kind: 'number', default: 0, param: 'ipa-image-download-max-duration', doc: 'seconds; 0 = unlimited' },
  httpRequestTimeout: { kind: 'number', default: 30, param: 'ipa-http-request-timeout' },
  // IPA's image-server basic auth ([DEFAULT], no kernel parameter); image_info's own auth wins.
  imageServerAuthStrategy: {
    kind: 'text',
    default: 'noauth',
    doc: 'image-server auth when image_info carries none: "noauth" or "http_basic" (with imageServerUser/imageServerPassword)',
  },
  imageServerUser: { kind: 'string', default: undefined, doc: 'HTTP Basic user for the image server (imageServerAuthStrategy http_basic)' },
  imageServerPassword: {
    kind: 'string',
    default: undefined,
    doc: 'HTTP Basic password for the image server (imageServerAuthStrategy http_basic)',
  },
  md5Enabled: {
    kind: 'bool',
    default: true,
    doc: "accept MD5 image checksums (IPA's md5_enabled); the lookup's agent_md5_checksum_enable overrides it",
  },
  guardSpecialFilesystems: {
    kind: 'bool',
    default: true,
    param: 'ipa-guard-special-filesystems',
    doc: 'refuse to erase disks holding shared-disk/cluster filesystems (GFS2, OCFS2, VMFS, GPFS)',
  },
  configDriveRebuild: {
    kind: 'bool',
    default: false,
    doc: "always rebuild the config drive as vfat labelled CONFIG-2 (IPA's config_drive_rebuild); by default only where the ISO does not mount (4Kn disks)",
  },
  ignoreBootloaderFailure: { kind: 'bool', default: false, param: 'ipa-ignore-bootloader-failure' },
  enableBiosBootloaderInstall: {
    kind: 'bool',
    default: false,
    param: 'ipa-enable-bios-bootloader-install',
    doc: "run the deployed image's GRUB (grub-install, grub-mkconfig in a chroot of its root) for partition images and software RAID, as IPA's enable_bios_bootloader_install (off by default since the CVE-2026-43003 mitigation); the lookup's enable_bios_bootloader_install: true turns it on",
  },
  injectFilesPriority: { kind: 'int', default: 0, param: 'ipa-inject-files-priority' },
  useMdns: {
    kind: 'bool',
    default: false,
    param: 'ipa-use-mdns',
    doc: 'with no apiUrl, look the Ironic API up over mDNS (service baremetal); apiUrl "mdns" does so regardless',
  },
  // ramforge extensions (IPA only has these as config-file options).
  enableAutoTls: { kind: 'bool', default: true, param: 'ipa-enable-auto-tls' },
  listenTls: { kind: 'bool', default: false, param: 'ipa-listen-tls' },
  tlsCertFile: { kind: 'string', default: undefined, param: 'ipa-tls-cert-file', path: true },
  tlsKeyFile: { kind: 'string', default: undefined, param: 'ipa-tls-key-file', path: true },
  cafile: {
    kind: 'string',
    default: undefined,
    param: 'ipa-cafile',
    path: true,
    doc: 'PEM CA bundle for Ironic, inspector and image servers',
  },
  certfile: {
    kind: 'string',
    default: undefined,
    path: true,
    doc: 'PEM client certificate every TLS connection presents (Ironic, inspector, image servers); needs keyfile',
  },
  keyfile: { kind: 'string', default: undefined, path: true, doc: "the client certificate's PEM key (certfile)" },
  diskErasureConcurrency: { kind: 'int', default: 1, param: 'ipa-disk-erasure-concurrency', doc: 'disks erased at once by erase_devices' },
  standalone: { kind: 'bool', default: false, param: 'ipa-standalone', doc: 'serve the API without lookup or heartbeats' },
  bootif: { kind: 'string', default: undefined, param: 'BOOTIF', doc: 'the raw BOOTIF value, e.g. "01-52-54-00-12-34-56"' },
  bootMethod: { kind: 'string', default: undefined, param: 'boot_method' },
  hardwareManagersDir: {
    kind: 'text',
    default: '/etc/ironic-python-agent/hardware-managers',
    doc: 'directory of JS modules exporting hardware managers',
  },
  hardwareManagerPackages: {
    kind: 'list',
    default: [],
    doc: 'npm packages (under hardwareManagersDir/node_modules) exporting hardware managers',
  },
  rootPath: { kind: 'text', default: '/', doc: 'root of the filesystem to inspect (a fixture tree in tests)' },
} as const satisfies Record<string, OptionSpec>;

export type ConfigOptionName = keyof typeof CONFIG_OPTIONS;

/** IPA's name of an option in ironic-python-agent.conf's [DEFAULT]: `ipa` if given, else the key in snake_case (apiUrl → api_url). */
export function ipaOptionName(key: ConfigOptionName): string {
  const spec: OptionSpec = CONFIG_OPTIONS[key];
  return spec.ipa ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The options of the config file, typed from CONFIG_OPTIONS. */
export type AgentOptions = { -readonly [K in ConfigOptionName]: KindTypes[(typeof CONFIG_OPTIONS)[K]['kind']] };

export interface AgentConfig extends AgentOptions {
  /** Every parameter from the kernel command line (and the virtual floppy), raw. */
  cmdline: Record<string, string>;
  /**
   * env RAMFORGE_AGENT_DISKS or --disks (/dev/loop3,...): the agent sees
   * exactly these block devices, loop devices included. For running it on a
   * host against file-backed disks (tests, demos); [] = every disk, as IPA.
   */
  disks: string[];
  /** Per-boot state (token, auto-TLS certificate): env RAMFORGE_AGENT_STATE_DIR, else /run/ironic-python-agent. */
  stateDir: string;
}

export const DEFAULT_STATE_DIR = '/run/ironic-python-agent';

/** IPA's defaults (ipa-protocol.md §9). Tests and loadConfig() start from here; every call returns a fresh object. */
export function createDefaultConfig(): AgentConfig {
  const options = Object.fromEntries(
    Object.entries(CONFIG_OPTIONS).map(([k, spec]) => {
      const d = spec.default as unknown;
      return [k, Array.isArray(d) ? [...d] : d];
    }),
  ) as AgentOptions;
  return { ...options, cmdline: {}, disks: [], stateDir: DEFAULT_STATE_DIR };
}
