/**
 * CPU facts the way IPA's get_cpus reads them: `lscpu` as lower-cased
 * "key: value" pairs, flags from the first "flags" line of /proc/cpuinfo.
 * Without lscpu (busybox ramdisks) everything comes from /proc/cpuinfo.
 * A missing model or frequency is null, as in IPA up to 2024.1 (Ironic
 * 21.4's; later IPA sends ""); a missing socket count is 0, as in every IPA.
 */
import type { Cpu } from '../types.js';
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';

/** "Key: value" lines, keys lower-cased; a repeated key keeps its last value, as IPA's dict does (lscpu repeats "Model name" per cluster on big.LITTLE ARM). */
export function parseKeyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    if (k) m.set(k, line.slice(i + 1).trim());
  }
  return m;
}

const NODE_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', ia32: 'i686' };

export async function collectCpu(host: HostAccess): Promise<Cpu> {
  const [lscpu, cpuinfo] = await Promise.all([tryRun(host, ['lscpu']), host.readText('/proc/cpuinfo')]);
  const l = parseKeyValues(lscpu ?? '');
  const info = cpuinfo ?? '';
  const firstBlock = parseKeyValues(info.split(/\n\s*\n/)[0] ?? '');
  const flagsText = firstBlock.get('flags') ?? l.get('flags') ?? '';
  const processors = info.split('\n').filter((x) => /^processor\s*:/.test(x)).length;
  const sockets = new Set(
    info
      .split('\n')
      .filter((x) => /^physical id\s*:/.test(x))
      .map((x) => x.split(':')[1]!.trim()),
  );
  // lscpu only prints "CPU max MHz" with cpufreq; VMs then have no frequency
  // at all in IPA. /proc/cpuinfo's "cpu MHz" is the honest next best.
  const freq = l.get('cpu max mhz') ?? l.get('cpu mhz') ?? firstBlock.get('cpu mhz') ?? null;
  const count = Number(l.get('cpu(s)') ?? processors);
  const socketCount = l.get('socket(s)') ?? (sockets.size ? String(sockets.size) : undefined);
  return {
    model_name: l.get('model name') ?? firstBlock.get('model name') ?? null,
    frequency: freq,
    count,
    architecture: l.get('architecture') ?? NODE_ARCH[process.arch] ?? process.arch,
    flags: flagsText.split(/\s+/).filter(Boolean),
    socket_count: socketCount === undefined || !Number.isInteger(Number(socketCount)) ? 0 : Number(socketCount),
  };
}
