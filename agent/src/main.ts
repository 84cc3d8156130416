/**
 * The agent process (ipa-protocol.md §0): config → hardware managers → wait
 * for a NIC → the API URL over mDNS (ipa-api-url=mdns) → inspection → lookup
 * → advertise address and auto TLS → API → heartbeats, then serve until
 * SIGTERM, finalize_rescue or lockdown.
 * --standalone skips everything that talks to Ironic (and the NIC wait).
 *
 * This is the only agent module that touches process.argv, signals and
 * process.exit. Startup failures print one line naming the cause and exit
 * non-zero; the ramdisk's service manager restarts us (as IPA relies on).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp } from './api/app.js';
import { startServer, type RunningServer } from './api/server.js';
import { chooseServerTls } from './api/server-tls.js';
import { createCommandDispatcher } from './commands/index.js';
import type { AgentConfig } from './config.js';
import { loadConfig, parseFlags } from './config-load.js';
import { AgentError } from './errors.js';
import type { MdnsSocketOptions } from './inspect/mdns.js';
import type { HardwareManagerRegistry } from './hardware/manager.js';
import { loadHardwareManagers, type LoadManagersOptions } from './hardware/plugins.js';
import type { Inventory, NetworkInterface } from './hardware/types.js';
import { restoreAgentToken, saveAgentToken } from './ironic/token-store.js';
import { createState, type AgentState } from './state.js';
import { execute, type ProgramRunner } from './util/exec.js';
import { dirEntries, sleepUntilDirChanges } from './util/dir-change.js';
import { createConsoleLog, type Log } from './util/log.js';
import { applyTlsSettings, resetTlsPolicy, setClientCertificate } from './util/tls-policy.js';
import { settleDevices } from './util/udev-settle.js';
import { copyConfigFromVmedia, parseKernelParams, readVmediaNetworkData } from './vmedia.js';
import { AGENT_VERSION } from './version.js';

const NETWORK_WAIT_TIMEOUT_S = 60;
// IPA retries every 5 s; a NIC shows up within a fraction of a second of its driver loading, and the ramdisk's
// agent starts while udev still loads drivers, so look often (one list_network_interfaces is a sysfs read and `ip`),
// and at once when /sys/class/net changes (util/dir-change.ts).
const NETWORK_WAIT_RETRY_S = 0.5;

export interface RunAgentOptions {
  run?: ProgramRunner;
  log?: Log;
  /** Per-boot state (token, auto-TLS certificate). Default config.stateDir. */
  stateDir?: string;
  /** Replace the built-in hardware managers (tests). */
  builtins?: LoadManagersOptions['builtins'];
  /** Where the mDNS lookup of ipa-api-url=mdns binds and sends (tests); default mDNS's 224.0.0.251:5353. */
  mdnsSocket?: MdnsSocketOptions;
}

export interface RunningAgent {
  state: AgentState;
  managers: HardwareManagerRegistry;
  server: RunningServer | undefined;
  /** Resolves when the agent stopped serving (SIGTERM, finalize_rescue, lockdown). */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

/** IPA _wait_for_interface: up to 60 s until any interface has a MAC. Returns what was found (maybe nothing). */
async function waitForInterface(managers: HardwareManagerRegistry, root: string, log: Log): Promise<NetworkInterface[]> {
  const deadline = Date.now() + NETWORK_WAIT_TIMEOUT_S * 1000;
  const netDir = join(root, 'sys/class/net');
  for (;;) {
    const seen = await dirEntries(netDir);
    let found: NetworkInterface[] = [];
    try {
      found = (await managers.dispatchToManagers('list_network_interfaces')) as NetworkInterface[];
    } catch (e) {
      log.warn(`listing network interfaces failed: ${(e as Error).message}`);
    }
    if (found.some((i) => i.mac_address)) return found;
    if (Date.now() >= deadline) {
      log.warn(`no network interface with a MAC address after ${NETWORK_WAIT_TIMEOUT_S} s; continuing`);
      return found;
    }
    log.debug('network is not up yet, retrying');
    await sleepUntilDirChanges(netDir, seen, NETWORK_WAIT_RETRY_S * 1000);
  }
}

/** Keep the token across a restart within one boot: Ironic hands it out once, then answers "******". */
async function saveToken(state: AgentState, stateDir: string, log: Log): Promise<void> {
  try {
    await saveAgentToken(state, stateDir);
  } catch (e) {
    log.warn(`cannot save the agent token in ${stateDir} (a restart would lose it): ${(e as Error).message}`);
  }
}

/** IPA _lockdown_system: take every interface but lo down, then idle. */
async function lockdownSystem(run: ProgramRunner, log: Log): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir('/sys/class/net').catch(() => [] as string[])) {
    if (name === 'lo') continue;
    await run(['ip', 'link', 'set', name, 'down']).catch((e: Error) => log.warn(`lockdown: ${e.message}`));
  }
}

/** Sync the clock before anything uses certificates; failures only logged (IPA ignores them). */
async function syncClock(config: AgentConfig, run: ProgramRunner, log: Log): Promise<void> {
  if (!config.ntpServer) return;
  try {
    await run(['ntpdate', config.ntpServer], { timeoutMs: 30_000 });
  } catch {
    await run(['chronyd', '-q', `server ${config.ntpServer} iburst`], { timeoutMs: 30_000 }).catch((e: Error) =>
      log.warn(`clock sync with ${config.ntpServer} failed: ${e.message}`),
    );
  }
}

/** Apply openstack/latest/network_data.json from the virtual media, if there is one. Never throws: a failure is logged. */
async function configureVmediaNetwork(config: AgentConfig, run: ProgramRunner, log: Log): Promise<void> {
  try {
    const found = await readVmediaNetworkData({ root: config.rootPath, cmdline: config.cmdline, run, log });
    if (found) {
      const { configureNetworkData } = await import('./network-data.js');
      await configureNetworkData(found.text, { root: config.rootPath, run, log, source: found.source });
      return;
    }
  } catch (e) {
    log.warn(`network configuration from virtual media failed: ${(e as Error).message}`);
  }
  // The ramdisk left DHCP to a network_data.json it saw (tinyipa's rcS), and the agent found none or could not use it.
  const { DHCP_DEFERRED_MARK, fallbackDhcp } = await import('./network-data.js');
  if (existsSync(join(config.rootPath, DHCP_DEFERRED_MARK)))
    await fallbackDhcp({ root: config.rootPath, run, log, source: 'virtual media (no network_data.json the agent could read)' });
}

/** Start the agent with a loaded config; resolves once the API listens (or is deliberately not served). */
export async function runAgent(config: AgentConfig, o: RunAgentOptions = {}): Promise<RunningAgent> {
  const log = o.log ?? createConsoleLog(config.debug);
  const run = o.run ?? execute;
  const stateDir = o.stateDir ?? config.stateDir;
  const state = createState(config, AGENT_VERSION);
  log.info(
    `ramforge agent ${AGENT_VERSION} starting${config.standalone ? ' (standalone)' : ''}; api_url=${config.apiUrl.join(',') || 'none'}`,
  );
  // The TLS floor of every connection from here on (the lookup may raise it); reset first, as tests start many agents in one process.
  resetTlsPolicy();
  applyTlsSettings('the agent config', config.tlsMinVersion, config.tlsCipherSuites, log);
  setClientCertificate(config, log);
  await syncClock(config, run, log);
  // Secure Boot's kernel lockdown closes /dev/mem and more: say what the agent does without (not awaited: off the start path).
  void import('./hardware/inventory/boot-security.js')
    .then(async (m) => {
      const { createHostAccess } = await import('./hardware/inventory/host-access.js');
      const line = await m.describeBootSecurity(createHostAccess({ root: config.rootPath }));
      if (line) log.info(line);
    })
    .catch((e: unknown) => log.warn(`could not read the boot's Secure Boot and lockdown state: ${(e as Error).message}`));
  if (await restoreAgentToken(state, stateDir)) log.info(`agent token restored from ${stateDir}`);
  const managers = await loadHardwareManagers(config, { state, log, run, builtins: o.builtins });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  if (existsSync(join(config.rootPath, 'etc/.rescued'))) {
    log.info('rescue marker /etc/.rescued found: not serving the API');
    return { state, managers, server: undefined, stopped: Promise.resolve(), stop: async () => {} };
  }

  const ironic = !config.standalone;
  // Lookup and inspection report the NICs and disks: every one, not only those udev handled so far.
  if (ironic && (config.apiUrl.length > 0 || config.inspectionCallbackUrl.length > 0 || config.useMdns)) await settleDevices(run, log);
  const vmedia = config.cmdline.boot_method === 'vmedia';
  const interfaces = ironic || vmedia ? await waitForInterface(managers, config.rootPath, log) : [];
  // DHCP-less deploys: the virtual-media ISO's network_data.json configures the NICs before inspection and lookup;
  // standalone too (nothing else brings the network up where tinyipa's rcS left DHCP to the agent).
  if (vmedia) await configureVmediaNetwork(config, run, log);
  // ipa-api-url=mdns (or none with ipa-use-mdns): IPA looks the API up at start; here once a NIC is up, before inspection.
  if (ironic && (config.apiUrl.includes('mdns') || (config.apiUrl.length === 0 && config.useMdns))) {
    const { discoverApiUrl } = await import('./ironic/mdns-api.js');
    const ntpBefore = config.ntpServer;
    Object.assign(config, await discoverApiUrl(config, { log, socket: o.mdnsSocket }));
    if (config.ntpServer && config.ntpServer !== ntpBefore) await syncClock(config, run, log);
  }
  let nodeUuid: string | undefined;
  if (ironic && (config.apiUrl.length > 0 || config.inspectionCallbackUrl.length > 0)) {
    try {
      const { runInspection } = await import('./inspect/index.js');
      nodeUuid = await runInspection(config, {
        run,
        root: config.rootPath,
        inventory: async () => (await managers.dispatchToManagers('list_hardware_info')) as Inventory,
        managers: managers.getManagersDetail(),
        log,
      });
    } catch (e) {
      log.error(`inspection failed: ${(e as Error).message}`);
    }
  }

  const ironicMod = ironic && config.apiUrl.length > 0 ? await import('./ironic/client.js') : undefined;
  const client = ironicMod ? new ironicMod.IronicClient(config, { log }) : undefined;
  let ip: string | undefined;
  let ironicVersion: string | undefined;
  if (ironicMod && client) {
    const macs = interfaces.map((i) => i.mac_address).filter((m): m is string => !!m);
    const result = await client.lookupNode({
      addresses: macs,
      // NICs that appeared since, from sysfs: not the managers' listing, which may capture LLDP for up to
      // ipa-lldp-timeout (or create VLANs) at every retry.
      refreshAddresses: async () => {
        const { listInterfaces } = await import('./network-data.js');
        const now = (await listInterfaces(join(config.rootPath, 'sys/class/net'))).physical.map((i) => i.mac);
        return [...new Set([...macs, ...now])];
      },
      nodeUuid,
    });
    ironicMod.applyLookup(state, result, log);
    log.info(`lookup found node ${result.node.uuid}; heartbeat timeout ${state.heartbeatTimeout} s`);
    await saveToken(state, stateDir, log);
    const { chooseAdvertiseAddress } = await import('./ironic/advertise.js');
    ip = await chooseAdvertiseAddress(config, { run, log });
    ironicVersion = await client.discoverVersion();
  } else if (ironic && config.inspectionCallbackUrl.length > 0) {
    log.info('no ipa-api-url: lookup and heartbeats skipped (inspection only)');
  } else if (ironic) {
    log.error('neither ipa-api-url nor ipa-inspection-callback-url is set: nothing will drive this agent. Check the kernel command line.');
  }

  const chosen = await chooseServerTls(config, { ip, ironicVersion, stateDir });
  state.verifyCaPem = chosen.verifyCaPem;
  if (ip) {
    const { callbackUrlFor } = await import('./ironic/advertise.js');
    state.callbackUrl = callbackUrlFor(config, ip, chosen.protocol);
  }

  const commands = createCommandDispatcher({ state, config, managers, run, log });
  const app = buildApp(state, commands, { log, logRequests: config.debug });
  const server = await startServer(app, config, chosen.tls);
  log.info(`API listening on ${server.url}${state.callbackUrl ? `; callback URL ${state.callbackUrl}` : ''}`);

  let heartbeater: { start(): void; stop(): void } | undefined;
  if (client && state.node?.uuid) {
    const { Heartbeater } = await import('./ironic/heartbeat.js');
    heartbeater = new Heartbeater(state, client);
    heartbeater.start();
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      heartbeater?.stop();
      await server.close();
      // The TLS policy is process-wide: what this agent's lookup set must not outlive it (tests start many agents).
      resetTlsPolicy();
      log.info('API stopped');
      resolveStopped();
    })());
  state.onStopServing = () => {
    void stop().then(async () => {
      if (state.lockdown) {
        log.info('lockdown: bringing every network interface down');
        await lockdownSystem(run, log);
      }
    });
  };
  return { state, managers, server, stopped, stop };
}

/**
 * One full GC shortly after the API is up. Startup leaves garbage (the module
 * graph's evaluation, config parsing, the API's setup) that V8 only collects
 * once it considers the process idle, about 25 s later; until then RSS sits
 * about 10 MiB higher. A ramdisk has no swap, so collect it now (a few ms on
 * real hardware). `gc` is exposed on a private context so nothing else sees it.
 * --expose-gc is unset again at once: while a V8 flag differs from its
 * default, V8's flag hash differs and Node rejects the code cache built into
 * it for its own modules, so every built-in first loaded later (node:zlib,
 * node:crypto, ... on the first commands) would be compiled from source.
 *
 * Also: the young generation keeps its start size. Under sustained requests
 * (wrk on the API, bench/agent-load.ts) V8 doubles it step by step towards
 * 16 MiB semi-spaces and never gives the memory back while busy: RSS went
 * 52 → 82-95 MiB in 30 s runs, over IPA's 86 MB, against 72-73 MiB with it
 * kept (agent CPU per request unchanged; docs/agent-memory.md). Set at run
 * time: on the command line V8 raises a growth factor below 2 to 2, and any
 * flag there costs the built-in code cache of every module (tinyipa start
 * script). Set here, it changes V8's flag hash for good (--expose-gc is
 * unset again, this cannot be without losing its effect): built-in modules
 * first loaded after this point (node:crypto, node:https,
 * node:worker_threads, ...) compile without Node's code cache
 * (NODE_DEBUG_NATIVE=CODE_CACHE says "rejected"), 20-30 ms in all on this host,
 * once: the trade is taken for the RSS bound under load.
 */
function collectGarbageWhenIdle(log: Log, afterMs = 1000): void {
  setTimeout(() => {
    void (async () => {
      const { setFlagsFromString } = await import('node:v8');
      const { runInNewContext } = await import('node:vm');
      setFlagsFromString('--semi-space-growth-factor=1');
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as (o?: object) => void;
      setFlagsFromString('--no-expose-gc');
      gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    })().catch((e: Error) => log.debug(`idle GC skipped: ${e.message}`));
  }, afterMs).unref();
}

/** Process entry: parse, run, handle signals; the only place that exits. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  if (argv[0] === '--check-config' || argv[0]?.startsWith('--check-config=')) {
    const { checkConfigMain } = await import('./config-check.js');
    process.exit(await checkConfigMain(argv));
  }
  if (argv[0] === 'collect-introspection-data') {
    const { collectIntrospectionMain } = await import('./collect-introspection.js');
    process.exit(await collectIntrospectionMain(argv.slice(1)));
  }
  let config: AgentConfig;
  try {
    // IPA step 1: with boot_method=vmedia, agent config baked into the ISO lands in /etc before it is read.
    // Where the agent's /etc and kernel command line are: --root-path and --cmdline (tests), as loadConfig reads them.
    const early = parseFlags(argv);
    const cmdlineFile = early.cmdlinePath;
    await copyConfigFromVmedia({
      root: (early.values.rootPath as string | undefined) ?? '/',
      cmdline: cmdlineFile ? parseKernelParams(await readFile(cmdlineFile, 'utf8').catch(() => '')) : undefined,
      // A BMC's USB CD-ROM may enumerate after the agent starts; the network_data.json read later finds it then.
      deviceWaitMs: 30_000,
    }).catch((e: Error) => process.stderr.write(`ramforge-agent: copying config from virtual media failed: ${e.message}\n`));
    config = await loadConfig({ argv, env: process.env });
  } catch (e) {
    const msg = e instanceof AgentError ? `${e.message}: ${e.details}` : (e as Error).message;
    process.stderr.write(`ramforge-agent: cannot start: ${msg}\n`);
    process.exit(2);
  }
  const log = createConsoleLog(config.debug);
  // A stray rejection in background work must not take the API down with it.
  process.on('unhandledRejection', (reason) => log.error(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`));
  let agent: RunningAgent;
  try {
    agent = await runAgent(config, { log });
  } catch (e) {
    const msg = e instanceof AgentError ? `${e.message}: ${e.details}` : ((e as Error).stack ?? String(e));
    log.error(`agent failed to start: ${msg}`);
    process.exit(1);
  }
  collectGarbageWhenIdle(log);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info(`${sig}: shutting down`);
      void agent.stop().then(() => process.exit(0));
    });
  }
  await agent.stopped;
  // IPA sleeps forever after lockdown; after finalize_rescue it exits and the rescue scripts take over.
  if (agent.state.lockdown) setInterval(() => {}, 1 << 30);
  else process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
