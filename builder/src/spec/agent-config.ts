/**
 * The spec's agent.config, checked by the agent's own loader at build time,
 * so a typo fails the build with the path and the fix instead of the
 * machine at boot. The builder never imports the agent's code (the two
 * halves share none): it runs the agent's `--check-config FILE` mode, which
 * uses the very function that reads the file at boot (agent/src/config-check.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../agent-bundle.js';
import { InternalError, type SpecIssue } from '../errors.js';

const AGENT_MAIN = join(REPO_ROOT, 'agent', 'src', 'main.ts');
const TSX_LOADER = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** Problems of agent.config as spec issues ("agent.config.listenPrt: unknown option (did you mean ...)"); empty when valid. */
export function checkAgentConfig(config: Record<string, unknown>): SpecIssue[] {
  if (Object.keys(config).length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-agent-config-'));
  try {
    const file = join(dir, 'ramforge.json');
    writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(process.execPath, ['--import', TSX_LOADER, AGENT_MAIN, '--check-config', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      timeout: 60_000,
    });
    if (r.status === 0) return [];
    const lines = (r.stderr ?? '')
      .split('\n')
      .filter((l) => l.startsWith(`${file}: `))
      .map((l) => l.slice(file.length + 2));
    if (r.status !== 2 || lines.length === 0) {
      throw new InternalError(
        `checking agent.config with the agent's --check-config failed (exit ${r.status ?? r.signal ?? r.error?.message}): ${(r.stderr ?? '').trim().slice(-400)}`,
      );
    }
    return lines.map(toIssue);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "listenPrt: unknown option (did you mean "listenPort"?)" → {path: agent.config.listenPrt, message, fix}. */
function toIssue(line: string): SpecIssue {
  const m = /^([A-Za-z0-9_.[\]-]+): (.*)$/.exec(line);
  const [key, text] = m ? [m[1]!, m[2]!] : ['', line];
  const hint = /^(.*?)\s*\((did you mean [^)]*)\)$/.exec(text);
  const path = key ? `agent.config.${key}` : 'agent.config';
  return hint ? { path, message: hint[1]!, fix: hint[2]! } : { path, message: text };
}
