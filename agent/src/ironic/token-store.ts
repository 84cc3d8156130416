/**
 * Keeps the agent token across a restart of the agent within one boot.
 * Ironic hands the token out once; a second lookup (after the service
 * manager restarted a crashed agent) only gets "******", and without the
 * token every heartbeat is refused until the node is rebooted. The file
 * lives on /run, a tmpfs, so a reboot forgets it as Ironic does.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentState } from '../state.js';
import { DEFAULT_STATE_DIR } from '../config.js';

const TOKEN_FILE = 'agent-token';

/** Writes state.token (if any) to <dir>/agent-token, mode 0600, atomically. */
export async function saveAgentToken(state: AgentState, dir = DEFAULT_STATE_DIR): Promise<void> {
  if (!state.token) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${TOKEN_FILE}.${process.pid}`);
  await writeFile(tmp, state.token, { mode: 0o600 });
  await rename(tmp, join(dir, TOKEN_FILE));
}

/**
 * Sets state.token from <dir>/agent-token when no token is held yet (the
 * ipa-agent-token parameter wins). Returns whether a token was restored.
 */
export async function restoreAgentToken(state: AgentState, dir = DEFAULT_STATE_DIR): Promise<boolean> {
  if (state.token) return false;
  const saved = await readFile(join(dir, TOKEN_FILE), 'utf8').then(
    (t) => t.trim(),
    () => '',
  );
  if (saved.length < 32) return false;
  state.token = saved;
  return true;
}
