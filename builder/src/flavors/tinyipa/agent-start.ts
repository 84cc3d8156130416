/**
 * How tinyipa starts the agent: /usr/sbin/ramforge-agent runs the bundle on
 * the pinned Node with a few flags. V8's code cache for the bundle is only
 * accepted with the same V8 flags, and the bench runs the agent as the
 * ramdisk does, so both read the flags from that script.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the bundle lives in the ramdisk. */
export const AGENT_BUNDLE_PATH = '/usr/lib/ramforge-agent/agent.mjs';
/** What the start script runs: it loads the bundle with the shipped compile cache (rootfs/usr/lib/ramforge-agent/start.mjs). */
export const AGENT_START_PATH = '/usr/lib/ramforge-agent/start.mjs';
/** The shipped compile-cache entries, copied by start.mjs into the directory Node picks for this CPU. */
export const AGENT_COMPILE_CACHE_DIR = 'usr/lib/ramforge-agent/compile-cache';

const START_SCRIPT = fileURLToPath(new URL('./rootfs/usr/sbin/ramforge-agent', import.meta.url));

/** The Node flags of the `/usr/bin/node ... start.mjs` line in the start script. */
export function agentNodeFlags(script = readFileSync(START_SCRIPT, 'utf8')): string[] {
  const line = script.split('\n').find((l) => !l.trimStart().startsWith('#') && l.includes(` ${AGENT_START_PATH}`));
  const m = line && /\/usr\/bin\/node((?: --\S+)*) /.exec(line);
  if (!m) throw new Error(`the tinyipa start script has no '/usr/bin/node [--flags] ${AGENT_START_PATH}' line`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}
