/**
 * mDNS discovery of an OpenStack service (IPA mdns.get_endpoint): SRV + TXT
 * of <service>._openstack._tcp.local, then the URL rules. The network part
 * needs multicast; buildServiceEndpoint is pure and carries the rules.
 */
import { isIP } from 'node:net';
import { InspectionError } from '../errors.js';
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

const routable = (ip: string) => {
  if (isIP(ip) === 4) return !ip.startsWith('127.') && !ip.startsWith('169.254.') && ip !== '0.0.0.0';
  const l = ip.toLowerCase();
  return l !== '::1' && l !== '::' && !l.startsWith('fe80:');
};

export function buildServiceEndpoint(r: ServiceRecords): {
  url: string;
  params: Record<string, string>;
  overrides: Record<string, string>;
} {
  const txt = { ...r.txt };
  const protocol = txt.protocol ?? (r.port === 80 ? 'http' : 'https');
  let path = txt.path ?? '';
  if (path && !path.startsWith('/')) path = '/' + path;
  delete txt.protocol;
  delete txt.path;
  let host = r.server;
  if (host.endsWith('.local.') || host.endsWith('.local') || !host) {
    const ip = r.addresses.find(routable);
    if (!ip) throw new InspectionError(`mDNS: no routable address for ${r.server}; the service must advertise an A/AAAA record`);
    host = isIP(ip) === 6 ? `[${ip}]` : ip;
  } else host = host.replace(/\.$/, '');
  const overrides: Record<string, string> = {};
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(txt)) {
    if (k.startsWith('ipa_')) {
      if (ALLOWED_OVERRIDES.includes(k.slice(4))) overrides[k.slice(4)] = v;
    } else params[k] = v;
  }
  return { url: `${protocol}://${host}:${r.port}${path}`, params, overrides };
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

/** One multicast query round; resolves with whatever arrived within timeoutMs. */
async function queryOnce(service: string, timeoutMs: number): Promise<ServiceRecords | undefined> {
  const name = `${service}._openstack._tcp.local`;
  // Loaded on first use: only an mdns api_url needs it (idle RSS).
  const { default: mDNS } = await import('multicast-dns');
  const m = mDNS();
  const rec: ServiceRecords = { server: '', port: 0, addresses: [], txt: {} };
  m.on('response', (res) => {
    for (const a of [...res.answers, ...(res.additionals ?? [])]) {
      if (a.type === 'SRV' && a.name === name) {
        rec.server = (a.data as { target: string }).target;
        rec.port = (a.data as { port: number }).port;
      } else if (a.type === 'TXT' && a.name === name) rec.txt = decodeTxt(a.data);
      else if ((a.type === 'A' || a.type === 'AAAA') && (!rec.server || a.name === rec.server.replace(/\.$/, '')))
        rec.addresses.push(String(a.data));
    }
  });
  m.query([
    { name, type: 'SRV' },
    { name, type: 'TXT' },
  ]);
  await sleepMs(timeoutMs);
  m.destroy();
  return rec.port ? rec : undefined;
}

/** 3 attempts with a growing wait, like IPA's tenacity settings. */
export async function resolveServiceEndpoint(service: string, attempts = 3) {
  for (let i = 0; i < attempts; i++) {
    const r = await queryOnce(service, 1000 * (i + 1));
    if (r) return buildServiceEndpoint(r);
    await sleepMs(100 * 2 ** i);
  }
  throw new InspectionError(
    `mDNS lookup of ${service}._openstack._tcp.local found nothing; set ipa-inspection-callback-url explicitly or advertise the service`,
  );
}
