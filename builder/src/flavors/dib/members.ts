/**
 * dib's initramfs members, in boot order:
 *   base    — the Debian root after the elements (everything not below)
 *   modules — the kernel modules, each already zstd-compressed (kernel.ts):
 *             not compressed again, so the kernel only copies them at boot
 *   runtime — the pinned Node binary
 *   agent   — the agent bundle
 * (the common tail appends site). Each is compressed and cached on its own,
 * so a build with a new agent recompresses only the agent.
 */
import type { Member } from '../contract.js';
import type { TreeEntry } from '../../tree/types.js';

export const NODE_PATH = 'usr/bin/node';
export const AGENT_DIR = 'usr/lib/ramforge-agent';
export const MODULES_DIR = 'usr/lib/modules/';

export function dibMemberOf(e: TreeEntry): 'base' | 'modules' | 'runtime' | 'agent' {
  if (e.path === NODE_PATH) return 'runtime';
  if (e.path.startsWith(MODULES_DIR) && e.path.endsWith('.ko.zst')) return 'modules';
  if (e.path === AGENT_DIR || e.path.startsWith(`${AGENT_DIR}/`)) return 'agent';
  return 'base';
}

export function dibMembers(): Member[] {
  return [
    // zstd 19 takes minutes on the ~270 MB root; 9 costs ~10 MB (measured: 6 → 73 MB in 9 s, 12 → 68 MB in 50 s, 19 → 60 MB).
    // With the default zstd: lz4 instead, ~15 MB larger but unpacked faster at every boot (README, fourth pass).
    { kind: 'tree', name: 'base', compression: { zstd: 'lz4', xz: 6 } },
    // Compressed one by one already; their directories are in base, which comes first.
    { kind: 'tree', name: 'modules', select: (e) => dibMemberOf(e) === 'modules', compression: 'none' },
    // The Node binary (107 MB): with the default zstd, lz4 as for base: 29.7 MB against zstd 9's 22.3, the
    // kernel's unpack done 1.0-2.2 s sooner on a quiet host (README, ninth pass), the initramfs 97.8 MB (target 100).
    { kind: 'tree', name: 'runtime', select: (e) => dibMemberOf(e) === 'runtime', compression: { zstd: 'lz4', xz: 6 } },
    { kind: 'tree', name: 'agent', select: (e) => dibMemberOf(e) === 'agent' },
  ];
}
