/**
 * ipa-api-url=mdns (IPA's IronicPythonAgent.__init__): the Ironic API found
 * over mDNS as service `baremetal` (baremetal._openstack._tcp.local, see
 * inspect/mdns.ts for how the URL is built). Asked for explicitly (the value
 * "mdns"), a failed lookup stops the agent's start; with no API URL at all and
 * ipa-use-mdns, it is tried and a failure only logged (the agent may be there
 * only to inspect). TXT keys ipa_<option> set the options IPA lets mDNS
 * override: inspection_callback_url and ntp_server.
 */
import type { AgentConfig } from '../config.js';
import { ServiceLookupFailure } from '../errors.js';
import { ALLOWED_OVERRIDES, resolveServiceEndpoint, type MdnsSocketOptions } from '../inspect/mdns.js';
import type { Log } from '../util/log.js';

export interface MdnsApiOptions {
  log: Log;
  /** Where the mDNS socket binds and sends (tests); default mDNS's 224.0.0.251:5353. */
  socket?: MdnsSocketOptions;
  /** Query rounds (default 3, as IPA's [mdns]lookup_attempts). */
  attempts?: number;
}

type Changes = Partial<Pick<AgentConfig, 'apiUrl' | 'inspectionCallbackUrl' | 'ntpServer'>>;

/** The config changes the mDNS lookup brings ({} when none is asked for); throws ServiceLookupFailure when asked for explicitly and nothing is found. */
export async function discoverApiUrl(config: AgentConfig, o: MdnsApiOptions): Promise<Changes> {
  if (config.standalone) return {};
  const explicit = config.apiUrl.includes('mdns');
  const others = config.apiUrl.filter((u) => u !== 'mdns' && u.trim() !== '');
  if (!explicit) {
    if (others.length || !config.useMdns) return {};
    o.log.info('no ipa-api-url and ipa-use-mdns is set: looking up the Ironic API over mDNS');
  }
  let found: Awaited<ReturnType<typeof resolveServiceEndpoint>>;
  try {
    found = await resolveServiceEndpoint('baremetal', {
      socket: o.socket,
      attempts: o.attempts,
      fail: (d) => new ServiceLookupFailure(d),
      hint: 'advertise it, or set ipa-api-url to the Ironic API URL',
    });
  } catch (e) {
    const why = (e as ServiceLookupFailure).details || (e as Error).message;
    if (explicit && !others.length) throw e;
    o.log.warn(
      `could not get the baremetal endpoint from mDNS (${why}): ${others.length ? `using ${others.join(', ')}` : 'will not heartbeat'}`,
    );
    return explicit ? { apiUrl: others } : {};
  }
  const url = found.url.replace(/\/+$/, '');
  if (found.warning) o.log.warn(found.warning);
  o.log.info(`mDNS: Ironic API at ${url}`);
  const changes: Changes = { apiUrl: explicit ? config.apiUrl.map((u) => (u === 'mdns' ? url : u)) : [url] };
  for (const [key, value] of Object.entries(found.overrides)) {
    if (!ALLOWED_OVERRIDES.includes(key)) continue;
    if (key === 'ntp_server') changes.ntpServer = value.trim() || undefined;
    if (key === 'inspection_callback_url') {
      const urls = value
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean);
      const bad = urls.filter((u) => !/^(mdns|https?:\/\/.+)$/.test(u));
      if (bad.length) {
        o.log.warn(`mDNS: ignoring ipa_inspection_callback_url ${JSON.stringify(value)}: not http(s) URLs or "mdns"`);
        continue;
      }
      changes.inspectionCallbackUrl = urls.map((u) => (u === 'mdns' ? u : u.replace(/\/+$/, '')));
    }
    o.log.info(`mDNS: ${key} set to ${JSON.stringify(value)} by the service's TXT record`);
  }
  for (const key of Object.keys(found.params)) o.log.debug(`mDNS: TXT key ${key} ignored (not an ipa_ option)`);
  return changes;
}
