/**
 * Inspection (IPA inspector.inspect): collect, always POST (errors travel in
 * "error"), then report the accumulated failures. runInspection is the
 * agent's boot-time call; collectIntrospectionData is the
 * `ironic-collect-introspection-data` command with its daemon mode.
 */
import type { AgentConfig } from '../config.js';
import { AgentError, errMsg, InspectionError } from '../errors.js';
import { collectInventory } from '../hardware/inventory/index.js';
import { createHostAccess } from '../hardware/inventory/host-access.js';
import type { HostAccess } from '../hardware/inventory/host-access.js';
import { collectInterfaces } from '../hardware/inventory/network.js';
import { guessRootDisk } from '../hardware/inventory/root-device.js';
import type { Inventory } from '../hardware/types.js';
import type { ProgramRunner } from '../util/exec.js';
import { createConsoleLog, type Log } from '../util/log.js';
import type { ManagerVersion, Payload } from './collectors.js';
import { runCollectors } from './collectors.js';
import { runDaemonLoop } from './daemon.js';
import { waitForDhcp } from './dhcp-wait.js';
import { buildLegacyKeys, legacyEnabled } from './legacy.js';
import { resolveServiceEndpoint } from './mdns.js';
import type { PostOptions } from './post.js';
import { postInspectionData } from './post.js';

export { buildServiceEndpoint } from './mdns.js';
export { runDaemonLoop } from './daemon.js';
export { normalizeBootif, waitForDhcp } from './dhcp-wait.js';

export interface InspectOptions {
  run?: ProgramRunner;
  root?: string;
  /** The hardware-manager framework's list_hardware_info; default: the generic inventory. */
  inventory?: () => Promise<Inventory>;
  /** configuration.managers; default the generic manager. */
  managers?: ManagerVersion[];
  /** Retry sleep of the POST, DHCP clock: injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** mDNS resolution; injectable because multicast is not testable offline. */
  resolveMdns?: (service: string) => Promise<{ url: string; warning?: string }>;
  log?: Log;
  /** Rounds of the POST (postInspectionData); default 5, as IPA's. */
  postAttempts?: number;
}

const DEFAULT_MANAGERS: ManagerVersion[] = [{ name: 'generic_hardware_manager', version: '1.2' }];
/** AgentError keeps the useful text in details; message is the generic title. */
const errText = (e: unknown) => (e instanceof AgentError ? e.details || e.message : errMsg(e));

/**
 * IPA's `CONF.inspection_collectors` is set (non-empty), from whichever source: the kernel command line, an INI
 * file's inspection_collectors or ramforge's JSON config all end in config.inspectionCollectors. An empty
 * `ipa-inspection-collectors=` leaves it unset, as in IPA.
 */
const collectorsSet = (config: AgentConfig): boolean => config.inspectionCollectors.length > 0;

/** Where to POST: the callback URL(s), mdns, or [master] Ironic's continue_inspection. */
async function resolveTargets(config: AgentConfig, o: InspectOptions): Promise<string[]> {
  const urls = config.inspectionCallbackUrl.filter(Boolean);
  if (urls.length) {
    return Promise.all(
      urls.map(async (u) => {
        if (u !== 'mdns') return u;
        const found = await (o.resolveMdns ?? resolveServiceEndpoint)('baremetal-introspection');
        // A .local server with only link-local addresses: IPA uses the first one and warns.
        if (found.warning) (o.log ?? createConsoleLog()).warn(found.warning);
        return `${found.url.replace(/\/$/, '')}/v1/continue`;
      }),
    );
  }
  if (collectorsSet(config) && config.apiUrl.length) {
    return config.apiUrl.filter((u) => u !== 'mdns').map((u) => `${u.replace(/\/$/, '')}/v1/continue_inspection`);
  }
  return [];
}

export const inspectionEnabled = (config: AgentConfig): boolean =>
  config.inspectionCallbackUrl.some(Boolean) || (collectorsSet(config) && config.apiUrl.length > 0);

/** One inspection: throws InspectionError after posting when something failed. */
export async function inspectOnce(config: AgentConfig, o: InspectOptions = {}): Promise<string | undefined> {
  const host: HostAccess = createHostAccess({ root: o.root ?? config.rootPath, run: o.run });
  const log = o.log ?? createConsoleLog();
  const urls = await resolveTargets(config, o);
  if (!urls.length) {
    throw new InspectionError(
      'inspection has no target: set ipa-inspection-callback-url, or ipa-use-mdns=1 to look the inspector up over mDNS (answers are not authenticated: trusted networks only)',
    );
  }
  let cached: Promise<Inventory> | undefined;
  let dhcp: Promise<boolean> | undefined;
  const inventory = () =>
    (cached ??= o.inventory
      ? o.inventory()
      : collectInventory({
          host,
          collectLldp: config.collectLldp,
          lldpTimeout: config.lldpTimeout,
          log,
          bootif: config.bootif,
          onlyDisks: config.disks,
        }));
  const names = config.inspectionCollectors.length ? config.inspectionCollectors : ['default', 'logs'];
  const data: Payload = {};
  const error = await runCollectors(names, data, {
    host,
    collectorNames: names,
    managers: o.managers ?? DEFAULT_MANAGERS,
    inventory,
    log,
    lldpTimeout: config.lldpTimeout,
    benchmarks: (config.cmdline['ipa-inspection-benchmarks'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    // Once per inspection, whichever collector asks first.
    waitForDhcp: () =>
      (dhcp ??= waitForDhcp({
        timeoutS: config.inspectionDhcpWaitTimeout,
        allInterfaces: config.inspectionDhcpAllInterfaces,
        bootif: config.bootif,
        listInterfaces: () => collectInterfaces(host),
        now: o.now,
        sleep: o.sleep,
        log,
      })),
  });
  if (data.inventory && legacyEnabled(config.cmdline)) {
    const inv = data.inventory as Inventory;
    let root;
    try {
      root = guessRootDisk(inv.disks);
    } catch {
      root = undefined;
    }
    // Legacy keys never shadow what a collector produced.
    for (const [k, v] of Object.entries(buildLegacyKeys(inv, root))) if (!(k in data)) data[k] = v;
  }
  data.error = error;
  const post: PostOptions = {
    timeoutMs: config.httpRequestTimeout * 1000,
    sleep: o.sleep,
    insecure: config.insecure,
    cafile: config.cafile,
    requestId: config.globalRequestId,
    onUrlFailed: (url, e) => log.warn(`no answer from ${url} (${e.message}): trying the next inspection URL`),
    attempts: o.postAttempts,
    onRoundFailed: (round, e, waitMs) =>
      log.warn(`posting the inspection data failed (round ${round}: ${e.message}); trying again in ${waitMs / 1000} s`),
  };
  const resp = await postInspectionData(urls, data, post);
  if (error) throw new InspectionError(error);
  const uuid = resp.uuid ?? (resp.node as { uuid?: unknown } | undefined)?.uuid;
  return typeof uuid === 'string' ? uuid : undefined;
}

/** Boot-time inspection: the node UUID from the inspector, or undefined. Failures are logged only. */
export async function runInspection(config: AgentConfig, o: InspectOptions = {}): Promise<string | undefined> {
  if (!inspectionEnabled(config)) return undefined;
  try {
    // Until the POST gets through (or is refused), as IPA's restarts do: see post.ts.
    return await inspectOnce(config, { postAttempts: Number.POSITIVE_INFINITY, ...o });
  } catch (e) {
    (o.log ?? createConsoleLog()).error(`inspection failed: ${errText(e)}`);
    return undefined;
  }
}

/**
 * `ironic-collect-introspection-data`: inspect once; in daemon mode keep
 * re-posting every postInterval seconds (default 300) until aborted. With no
 * callback URL the inspector is looked up over mDNS only when ipa-use-mdns
 * allows it (IPA master since 2026: mDNS answers are unauthenticated, so
 * discovery is opt-in); otherwise Ironic's continue_inspection when
 * collectors and an API URL are set, or an error naming both options
 * (IPA would go on doing nothing).
 */
export async function collectIntrospectionData(
  config: AgentConfig,
  o: InspectOptions & {
    daemon?: boolean;
    postInterval?: number;
    signal?: AbortSignal;
    random?: () => number;
    daemonSleep?: (ms: number, s?: AbortSignal) => Promise<void>;
  } = {},
): Promise<string | undefined> {
  let cfg = config;
  if (!config.inspectionCallbackUrl.some(Boolean)) {
    if (config.useMdns) cfg = { ...config, inspectionCallbackUrl: ['mdns'] };
    else
      (o.log ?? createConsoleLog()).warn(
        'no ipa-inspection-callback-url, and ipa-use-mdns is not set: not looking the inspector up over mDNS',
      );
  }
  let uuid: string | undefined;
  try {
    uuid = await inspectOnce(cfg, o);
  } catch (e) {
    throw new InspectionError(`Inspection failed: ${errText(e)}`);
  }
  if (!o.daemon) return uuid;
  await runDaemonLoop(() => inspectOnce(cfg, o), {
    postInterval: o.postInterval ?? 300,
    signal: o.signal,
    random: o.random,
    sleep: o.daemonSleep,
    onError: (e, next) =>
      (o.log ?? createConsoleLog()).error(`error reporting introspection data: ${errText(e)}; next try in ${next.toFixed(0)} s`),
  });
  return uuid;
}
