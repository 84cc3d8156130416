/**
 * mDNS discovery of an OpenStack service (IPA mdns.get_endpoint): SRV + TXT
 * of <service>._openstack._tcp.local, then the URL rules. The network part
 * needs multicast; buildServiceEndpoint is pure and carries the rules.
 */
import { isIP } from 'node:net';
import { type AgentError, InspectionError } from '../errors.js';
import { isLinkLocal } from '../util/link-local.js';
import { setTimeout as sleepMs } from 'node:timers/promises';

export interface ServiceRecords {
  /** SRV target, e.g. "inspector.example.com." or "host.local." */
  server: string;
  port: number;
  addresses: string[];
  txt: Record<string, string>;
}

/** TXT keys ipa_<opt> may override only these options ([mdns]allowed_overrides). */
export const ALLOWED_OVERRIDES = ['inspection_callback_url', 'ntp_server'];

/** 127.0.0.0/8 or ::1 (also IPv4-mapped), which IPA's get_endpoint skips (skip_loopback); the unspecified 0.0.0.0 and :: with them. */
const loopback = (ip: string): boolean => {
  const l = ip.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  if (isIP(l) === 4) return l.startsWith('127.') || l === '0.0.0.0';
  return /^(0*:)*:?0*1$/.test(l) || /^(0*:)*:?0*$/.test(l);
};

/**
 * The address of a .local server that the URL uses, as IPA's get_endpoint
 * chooses it: over the IPv4 addresses then the IPv6 ones (zeroconf's
 * parsed_addresses order), invalid and loopback ones skipped, the first
 * routable one (IPA: the first that `ip route get` gives a source for; here:
 * not link-local), else the first left with a warning ("seem routable"), else
 * the lookup fails. A link-local IPv6 fallback goes into the URL without a
 * zone, as in IPA.
 */
export function chooseServiceAddress(
  server: string,
  addresses: string[],
  fail: (details: string) => AgentError,
): { address: string; warning?: string } {
  const valid = addresses.filter((a) => isIP(a) !== 0);
  const ordered = [...valid.filter((a) => isIP(a) === 4), ...valid.filter((a) => isIP(a) === 6)];
  const candidates = ordered.filter((a) => !loopback(a));
  // A link-local address is reachable only on the link (an IPv6 one needs a zone, which a URL cannot carry in Node).
  const routable = candidates.find((a) => !isLinkLocal(a));
  if (routable) return { address: routable };
  const fallback = candidates[0];
  if (!fallback) {
    throw fail(
      `mDNS: none of the addresses ${JSON.stringify(addresses)} of ${server} are valid (loopback ones are skipped); the service must advertise a reachable A/AAAA record`,
    );
  }
  return {
    address: fallback,
    warning: `mDNS: none of the addresses ${JSON.stringify(addresses)} of ${server} seem routable, using ${fallback}`,
  };
}

export function buildServiceEndpoint(
  r: ServiceRecords,
  fail: (details: string) => AgentError = (d) => new InspectionError(d),
): {
  url: string;
  params: Record<string, string>;
  overrides: Record<string, string>;
  /** Set when a .local server had only link-local addresses and one of them is used (IPA's warning). */
  warning?: string;
} {
  const txt = { ...r.txt };
  const protocol = txt.protocol || (r.port === 80 ? 'http' : 'https');
  let path = txt.path ?? '';
  if (path && !path.startsWith('/')) path = '/' + path;
  delete txt.protocol;
  delete txt.path;
  let host = r.server;
  let warning: string | undefined;
  if (host.endsWith('.local.') || host.endsWith('.local') || !host) {
    const chosen = chooseServiceAddress(r.server, r.addresses, fail);
    warning = chosen.warning;
    host = isIP(chosen.address) === 6 ? `[${chosen.address}]` : chosen.address;
  } else host = host.replace(/\.$/, '');
  const overrides: Record<string, string> = {};
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(txt)) {
    if (k.startsWith('ipa_')) {
      if (ALLOWED_OVERRIDES.includes(k.slice(4))) overrides[k.slice(4)] = v;
    } else params[k] = v;
  }
  return { url: `${protocol}://${host}:${r.port}${path}`, params, overrides, ...(warning ? { warning } : {}) };
}

function decodeTxt(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of Array.isArray(data) ? data : [data]) {
    const s = Buffer.isBuffer(b) ? b.toString() : String(b);
    const i = s.indexOf('=');
    if (i > 0) out[s.slice(0, i)] = s.slice(i + 1);
  }
  return out;
}

/**
 * Where the multicast socket binds and sends (multicast-dns options). The
 * default is mDNS itself: 224.0.0.251:5353 on every interface. Tests use
 * another port on the loopback interface, bound to the group address.
 */
export interface MdnsSocketOptions {
  port?: number;
  ip?: string;
  interface?: string;
  bind?: string;
}

export interface ResolveOptions {
  /** Query rounds (IPA's [mdns]lookup_attempts, 3). */
  attempts?: number;
  socket?: MdnsSocketOptions;
  /** The error for "nothing found" and "no usable address" (default InspectionError, for the inspection callback). */
  fail?: (details: string) => AgentError;
  /** What the operator can do instead, appended to the "found nothing" error. */
  hint?: string;
}

/** One multicast query round; resolves once SRV, TXT and (for a .local target) an address are in, or with what arrived within timeoutMs. */
async function queryOnce(service: string, timeoutMs: number, socket: MdnsSocketOptions = {}): Promise<ServiceRecords | undefined> {
  const name = `${service}._openstack._tcp.local`;
  // Loaded on first use: only an mdns URL needs it (idle RSS).
  const { default: mDNS } = await import('multicast-dns');
  const m = mDNS(socket);
  const rec: ServiceRecords = { server: '', port: 0, addresses: [], txt: {} };
  // A/AAAA records by host name: other hosts' announcements arrive too, before or after the SRV naming ours.
  const byHost = new Map<string, string[]>();
  const hostKey = (n: string): string => n.replace(/\.$/, '').toLowerCase();
  const serverAddresses = (): string[] => byHost.get(hostKey(rec.server)) ?? [];
  let gotTxt = false;
  let done!: () => void;
  const complete = new Promise<void>((r) => {
    done = r;
  });
  let socketError: Error | undefined;
  m.on('warning', () => {});
  // EACCES/EADDRINUSE on the socket: without a listener the emitter would throw out of the socket's callback.
  m.on('error', (e: Error) => {
    socketError = e;
    done();
  });
  m.on('response', (res) => {
    for (const a of [...res.answers, ...(res.additionals ?? [])]) {
      if (a.type === 'SRV' && a.name === name) {
        rec.server = (a.data as { target: string }).target;
        rec.port = (a.data as { port: number }).port;
      } else if (a.type === 'TXT' && a.name === name) {
        rec.txt = decodeTxt(a.data);
        gotTxt = true;
      } else if (a.type === 'A' || a.type === 'AAAA') {
        const list = byHost.get(hostKey(a.name)) ?? [];
        if (!list.includes(String(a.data))) list.push(String(a.data));
        byHost.set(hostKey(a.name), list);
      }
    }
    const local = /\.local\.?$/.test(rec.server);
    if (rec.port && gotTxt && (!local || serverAddresses().length)) done();
  });
  m.query([
    { name, type: 'SRV' },
    { name, type: 'TXT' },
  ]);
  const timer = new AbortController();
  await Promise.race([complete, sleepMs(timeoutMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
  timer.abort();
  m.destroy();
  if (socketError && !rec.port) throw socketError;
  rec.addresses = serverAddresses();
  return rec.port ? rec : undefined;
}

/** 3 attempts with a growing wait, like IPA's tenacity settings. */
export async function resolveServiceEndpoint(service: string, o: ResolveOptions = {}) {
  const attempts = o.attempts ?? 3;
  const fail = o.fail ?? ((d: string) => new InspectionError(d));
  for (let i = 0; i < attempts; i++) {
    let r: ServiceRecords | undefined;
    try {
      r = await queryOnce(service, 1000 * (i + 1), o.socket);
    } catch (e) {
      throw fail(`mDNS lookup of ${service}._openstack._tcp.local: the multicast socket failed: ${(e as Error).message}`);
    }
    if (r) return buildServiceEndpoint(r, fail);
    if (i + 1 < attempts) await sleepMs(100 * 2 ** i);
  }
  throw fail(
    `mDNS lookup of ${service}._openstack._tcp.local found nothing; ${o.hint ?? 'set ipa-inspection-callback-url explicitly or advertise the service'}`,
  );
}
