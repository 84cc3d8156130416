import { isIPv4, isIPv6 } from 'node:net';

/** 169.254.0.0/16 and fe80::/10 (a zone suffix allowed): reachable only on the link, not across routers. */
export function isLinkLocal(ip: string): boolean {
  if (isIPv4(ip)) return ip.startsWith('169.254.');
  if (isIPv6(ip)) return /^fe[89ab][0-9a-f]:/i.test(ip);
  return false;
}
