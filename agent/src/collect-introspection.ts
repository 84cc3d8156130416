/**
 * `collect-introspection-data`: IPA's ironic-collect-introspection-data.
 * Collects the inspection data once and posts it to the inspection callback
 * URL (or, with ipa-use-mdns, the one found over mDNS); with --introspection-daemon it keeps
 * posting every --introspection-daemon-post-interval seconds (default 300,
 * jittered ×U(0.7, 1.2), backing off ×2.7 after errors), for active nodes.
 * As IPA's command does, it loads and initializes every hardware manager
 * (the built-in one and the site's, from hardwareManagersDir) and posts
 * their list_hardware_info, naming them all in configuration.managers.
 */
import { loadConfig } from './config-load.js';
import { AgentError } from './errors.js';
import { loadHardwareManagers } from './hardware/plugins.js';
import type { Inventory } from './hardware/types.js';
import { collectIntrospectionData, inspectionEnabled } from './inspect/index.js';
import { createState } from './state.js';
import { createConsoleLog } from './util/log.js';
import { AGENT_VERSION } from './version.js';
import { applyTlsSettings, setClientCertificate } from './util/tls-policy.js';

export interface CollectArgs {
  daemon: boolean;
  postInterval: number;
  rest: string[];
}

/** Split our own flags (both IPA's underscore and dashed spellings) from the agent's. */
export function parseCollectArgs(argv: string[]): CollectArgs {
  const out: CollectArgs = { daemon: false, postInterval: 300, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const name = flag.replace(/_/g, '-');
    if (name === '--introspection-daemon') out.daemon = inline === undefined || !/^(0|false|no)$/i.test(inline);
    else if (name === '--introspection-daemon-post-interval') {
      const v = Number(inline ?? argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag}: expected a positive number of seconds`);
      out.postInterval = v;
    } else out.rest.push(argv[i]!);
  }
  return out;
}

export async function collectIntrospectionMain(argv: string[]): Promise<number> {
  let args: CollectArgs;
  try {
    args = parseCollectArgs(argv);
  } catch (e) {
    process.stderr.write(`collect-introspection-data: ${(e as Error).message}\n`);
    return 2;
  }
  const config = await loadConfig({ argv: args.rest, env: process.env });
  const log = createConsoleLog(config.debug);
  // Before the managers' start (md assembly, the disk wait): a command with nowhere to post fails at once.
  if (!inspectionEnabled(config) && !config.useMdns) {
    process.stderr.write(
      'collect-introspection-data: no ipa-inspection-callback-url, and ipa-use-mdns is not set: set one of them (mDNS answers are not authenticated: trusted networks only)\n',
    );
    return 1;
  }
  applyTlsSettings('the agent config', config.tlsMinVersion, config.tlsCipherSuites, log);
  setClientCertificate(config, log);
  try {
    // ipa-hardware-initialization-delay is the agent's start (IPA sleeps it in agent.run, not in this command).
    const managers = await loadHardwareManagers(
      { ...config, hardwareInitializationDelay: 0 },
      { state: createState(config, AGENT_VERSION), log },
    );
    // With --introspection-daemon, signals end the daemon between rounds; otherwise (and during the managers' start)
    // they end the process as usual.
    const stop = new AbortController();
    if (args.daemon) for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
    const uuid = await collectIntrospectionData(config, {
      daemon: args.daemon,
      postInterval: args.postInterval,
      signal: stop.signal,
      log,
      inventory: async () => {
        // Every round captures LLDP again, as IPA's listing does (the agent's start keeps its first capture).
        for (const m of managers.managers) (m.manager as { forgetLldp?: () => void }).forgetLldp?.();
        return (await managers.dispatchToManagers('list_hardware_info')) as Inventory;
      },
      managers: managers.getManagersDetail(),
    });
    if (uuid) process.stdout.write(`${uuid}\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof AgentError ? `${e.message}: ${e.details}` : (e as Error).message;
    process.stderr.write(`collect-introspection-data: ${msg}\n`);
    return 1;
  }
}
