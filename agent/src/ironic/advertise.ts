/**
 * The address the conductor calls the agent back on (IPA
 * set_agent_advertise_addr, ipa-protocol.md §4.2). Chosen once per boot:
 * Ironic answers 400 to a heartbeat whose callback_url changed.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';
import type { AgentConfig } from '../config.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import { sleepFor } from './client.js';
import { LookupAgentIPError } from './errors.js';
import { describeError } from '../errors.js';
import { httpRequest } from '../util/http.js';
import { isLinkLocal } from '../util/link-local.js';
import { createConsoleLog, type Log } from '../util/log.js';

export interface AdvertiseOptions {
  run?: ProgramRunner;
  /** Host name → addresses; default DNS/hosts via getaddrinfo. */
  resolve?: (host: string) => Promise<string[]>;
  sleep?: (ms: number) => Promise<void>;
  /** Does anything answer HTTP at this API URL? Unreachable URLs are not used to pick a route. */
  isReachable?: (url: string) => Promise<boolean>;
  log?: Log;
}

/** The `src` of the first line of `ip -o route get`; undefined if absent. */
export function parseRouteSource(output: string): string | undefined {
  const first = output.split('\n')[0] ?? '';
  return /\bsrc\s+(\S+)/.exec(first)?.[1];
}

/** `http://10.0.0.5:9999`, `https://[fd00::5]:9999`. */
export function callbackUrlFor(config: AgentConfig, host: string, protocol: 'http' | 'https' = config.advertiseProtocol): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${protocol}://${h}:${config.advertisePort}`;
}

async function resolveHost(host: string): Promise<string[]> {
  const addrs = await lookup(host, { all: true });
  return addrs.map((a) => a.address);
}

async function probeUrl(url: string): Promise<boolean> {
  try {
    // Any HTTP answer proves a route; certificate checks do not matter here.
    (await httpRequest(url, { headers: { accept: 'application/json' }, timeoutMs: 5000, insecure: true })).resume();
    return true;
  } catch {
    return false;
  }
}

async function readInterfaceIpv4(run: ProgramRunner, iface: string): Promise<string | undefined> {
  const { stdout } = await run(['ip', '-o', '-4', 'addr', 'show', 'dev', iface]);
  return /\binet\s+([0-9.]+)\//.exec(stdout)?.[1];
}

async function findRouteSource(run: ProgramRunner, dest: string, log: Log): Promise<string | undefined> {
  try {
    const { stdout } = await run(['ip', '-o', 'route', 'get', dest]);
    const src = parseRouteSource(stdout);
    if (src && isLinkLocal(src)) {
      log.info(`route to ${dest} has the link-local source ${src}; not using it`);
      return undefined;
    }
    return src;
  } catch (e) {
    log.warn(`ip route get ${dest} failed: ${describeError(e)}`);
    return undefined;
  }
}

/**
 * ipa-advertise-host if set; else the IPv4 address of ipa-network-interface;
 * else the source address of the route to each (reachable) API host. Tries
 * ip_lookup_attempts times, ip_lookup_sleep seconds apart, then throws
 * LookupAgentIPError.
 */
export async function chooseAdvertiseAddress(config: AgentConfig, o: AdvertiseOptions = {}): Promise<string> {
  if (config.advertiseHost) return config.advertiseHost;
  const run = o.run ?? execute;
  const resolve = o.resolve ?? resolveHost;
  const sleep = o.sleep ?? ((ms: number) => sleepFor(ms));
  const log = o.log ?? createConsoleLog(config.debug);
  const attempts = Math.max(1, config.ipLookupAttempts);
  let urls = config.apiUrl.filter((u) => u.trim() !== '');
  if (!config.networkInterface && urls.length > 1) {
    const probe = o.isReachable ?? probeUrl;
    const ok = (await Promise.all(urls.map(async (u) => ((await probe(u)) ? u : undefined)))).filter((u): u is string => !!u);
    // None answering is no reason to give up: the routing table may still know.
    if (ok.length > 0) urls = ok;
  }
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (config.networkInterface) {
      const ip = await readInterfaceIpv4(run, config.networkInterface).catch((e: unknown) => {
        log.warn(`reading the address of ${config.networkInterface} failed: ${describeError(e)}`);
        return undefined;
      });
      if (ip) return ip;
    } else {
      for (const url of urls) {
        const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
        const ips =
          isIPv4(host) || isIPv6(host)
            ? [host]
            : await resolve(host).catch((e: unknown) => {
                log.warn(`cannot resolve ${host}: ${describeError(e)}`);
                return [] as string[];
              });
        for (const ip of ips) {
          const src = await findRouteSource(run, ip, log);
          if (src) return src;
        }
      }
    }
    if (attempt < attempts) await sleep(config.ipLookupSleep * 1000);
  }
  const where = config.networkInterface
    ? `no IPv4 address on interface ${config.networkInterface}`
    : `no route with a usable source address to ${urls.join(', ') || '(no ipa-api-url)'}`;
  throw new LookupAgentIPError(
    `${where} after ${attempts} attempts; set ipa-advertise-host=<agent IP> or check the ramdisk's network configuration`,
  );
}
