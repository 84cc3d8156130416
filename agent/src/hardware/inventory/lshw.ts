/**
 * `lshw -quiet -json`, run once per inventory and shared by memory, vendor
 * and NIC speed. Old lshw prints an object, B.02.20+ an array of one.
 */
import type { HostAccess } from './host-access.js';
import { tryRun } from './host-access.js';

export interface LshwNode {
  id?: string;
  class?: string;
  product?: string;
  vendor?: string;
  serial?: string;
  version?: string;
  date?: string;
  size?: number;
  capacity?: number;
  units?: string;
  logicalname?: string | string[];
  children?: LshwNode[];
  [k: string]: unknown;
}

export const LSHW_ARGV = ['lshw', '-quiet', '-json'];

export function parseLshw(text: string): LshwNode | undefined {
  const doc = JSON.parse(text) as LshwNode | LshwNode[];
  return Array.isArray(doc) ? doc[0] : doc;
}

export async function readLshw(host: HostAccess): Promise<LshwNode | undefined> {
  const out = await tryRun(host, LSHW_ARGV, { timeoutMs: 60_000 });
  if (!out) return undefined;
  try {
    return parseLshw(out);
  } catch {
    return undefined;
  }
}

/** Depth-first search by id (IPA's find_in_lshw). */
export function findLshwNode(node: LshwNode | undefined, pred: (n: LshwNode) => boolean): LshwNode | undefined {
  if (!node) return undefined;
  if (pred(node)) return node;
  for (const c of node.children ?? []) {
    const hit = findLshwNode(c, pred);
    if (hit) return hit;
  }
  return undefined;
}
