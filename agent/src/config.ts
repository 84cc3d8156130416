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
