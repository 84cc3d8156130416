/**
 * tinyipa's initramfs members, in boot order, split by the layer an entry
 * came from:
 *   base    — Debian packages, busybox, kernel modules, the flavor's files
 *   runtime — the pinned Node binary's squashfs image (node-squashfs.ts),
 *             stored: it is compressed already
 *   agent   — the agent bundle
 * (the common tail appends site: the spec's own layers). Each is
 * compressed and cached on its own, so a warm build only recompresses
 * what changed (usually the agent and site).
 */
import type { Member } from '../contract.js';
import type { TreeEntry } from '../../tree/types.js';

export const MEMBER_ORDER = ['base', 'runtime', 'agent'] as const;
export type MemberName = (typeof MEMBER_ORDER)[number];

/** Layer names tinyipa's assemble gives the Node binary and the agent. */
export const RUNTIME_LAYER = 'node-runtime';
export const AGENT_LAYER = 'agent';

export function memberOf(e: TreeEntry): MemberName {
  if (e.layer === AGENT_LAYER) return 'agent';
  if (e.layer === RUNTIME_LAYER) return 'runtime';
  return 'base';
}

/** base takes whatever the others do not claim. */
export function tinyipaMembers(): Member[] {
  return MEMBER_ORDER.map((name) =>
    name === 'base'
      ? { kind: 'tree', name }
      : {
          kind: 'tree',
          name,
          select: (e: TreeEntry) => memberOf(e) === name,
          ...(name === 'runtime' ? { compression: 'none' as const } : {}),
        },
  );
}
