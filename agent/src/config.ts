/**
 * Agent configuration. Sources, later wins: defaults < config file
 * (/etc/ironic-python-agent/ramforge.json or --config) < kernel command line
 * (/proc/cmdline, ipa-* parameters; boot_method=vmedia adds parameters.txt
 * from the virtual floppy) < command-line flags.
 * loadConfig() is implemented in config-load.ts.
 */
export interface AgentConfig {
  apiUrl: string[];
  inspectionCallbackUrl: string[];
  inspectionCollectors: string[];
  inspectionDhcpWaitTimeout: number;
  inspectionDhcpAllInterfaces: boolean;
  listenHost: string;
  listenPort: number;
  listenTls: boolean;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  enableAutoTls: boolean;
  advertiseHost: string | undefined;
  advertisePort: number;
  advertiseProtocol: 'http' | 'https';
  networkInterface: string | undefined;
  ipLookupAttempts: number;
  ipLookupSleep: number;
  lookupTimeout: number;
  lookupInterval: number;
  ironicApiVersion: string | undefined;
  insecure: boolean;
  cafile: string | undefined;
  collectLldp: boolean;
  lldpTimeout: number;
  agentToken: string | undefined;
  globalRequestId: string | undefined;
  hardwareInitializationDelay: number;
  diskWaitAttempts: number;
  diskWaitDelay: number;
  imageDownloadConnectionTimeout: number;
  imageDownloadConnectionRetries: number;
  imageDownloadConnectionRetryInterval: number;
  imageDownloadMaxDuration: number;
  httpRequestTimeout: number;
  md5Enabled: boolean;
  ignoreBootloaderFailure: boolean;
  injectFilesPriority: number;
  useMdns: boolean;
  ntpServer: string | undefined;
  /** Raw BOOTIF value from the command line (e.g. "01-52-54-00-12-34-56"). */
  bootif: string | undefined;
  bootMethod: string | undefined;
  /** No lookup, no heartbeat (developer/standalone mode). */
  standalone: boolean;
  debug: boolean;
  /** Directory of JS modules exporting hardware managers. */
  hardwareManagersDir: string;
  /** npm package names (resolvable from hardwareManagersDir/node_modules) exporting managers. */
  hardwareManagerPackages: string[];
  /** Root of the filesystem to inspect (/ normally; a fixture tree in tests). */
  rootPath: string;
  /** Concurrency of erase_devices across disks. */
  diskErasureConcurrency: number;
  /** Every parameter from the kernel command line, raw. */
  cmdline: Record<string, string>;
}

/**
 * IPA's defaults (ipa-protocol.md §9). Tests and loadConfig() start from
 * here; every call returns a fresh object.
 */
export function createDefaultConfig(): AgentConfig {
  return {
    apiUrl: [],
    inspectionCallbackUrl: [],
    // Empty means "not set": the inspector then uses IPA's default,logs.
    // Kept distinct because IPA master starts inspection when collectors are
    // set together with api_url.
    inspectionCollectors: [],
    inspectionDhcpWaitTimeout: 60,
    inspectionDhcpAllInterfaces: false,
    listenHost: '::',
    listenPort: 9999,
    listenTls: false,
    tlsCertFile: undefined,
    tlsKeyFile: undefined,
    enableAutoTls: true,
    advertiseHost: undefined,
    advertisePort: 9999,
    advertiseProtocol: 'http',
    networkInterface: undefined,
    ipLookupAttempts: 6,
    ipLookupSleep: 10,
    lookupTimeout: 600,
    lookupInterval: 1,
    ironicApiVersion: undefined,
    insecure: false,
    cafile: undefined,
    collectLldp: false,
    lldpTimeout: 30,
    agentToken: undefined,
    globalRequestId: undefined,
    hardwareInitializationDelay: 0,
    diskWaitAttempts: 10,
    diskWaitDelay: 3,
    imageDownloadConnectionTimeout: 60,
    imageDownloadConnectionRetries: 9,
    imageDownloadConnectionRetryInterval: 10,
    imageDownloadMaxDuration: 0,
    httpRequestTimeout: 30,
    md5Enabled: false,
    ignoreBootloaderFailure: false,
    injectFilesPriority: 0,
    useMdns: false,
    ntpServer: undefined,
    bootif: undefined,
    bootMethod: undefined,
    standalone: false,
    debug: false,
    hardwareManagersDir: '/etc/ironic-python-agent/hardware-managers',
    hardwareManagerPackages: [],
    rootPath: '/',
    diskErasureConcurrency: 1,
    cmdline: {},
  };
}
