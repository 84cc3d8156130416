/**
 * The host tools a section needs, from the project's one table
 * (builder/src/host/tools.ts): checked before the section runs, installed
 * with apt-get when running as root, as `npm test` does. Not checkHost():
 * that installs by purpose, and the 'test' purpose pulls in the real Ironic,
 * which no benchmark needs.
 */
import { InternalError, ToolMissingError } from '../builder/src/errors.js';
import { run } from '../builder/src/exec/run.js';
import { HOST_REQUIREMENTS, isPresent } from '../builder/src/host/tools.js';

export async function ensureTools(tools: string[], log: (line: string) => void): Promise<void> {
  const reqs = tools.map((t) => {
    const r = HOST_REQUIREMENTS.find((x) => x.tool === t);
    if (!r) throw new InternalError(`bench: '${t}' is not in the host tool table (builder/src/host/tools.ts)`);
    return r;
  });
  let missing = reqs.filter((r) => !isPresent(r.tool));
  if (!missing.length) return;
  if (process.getuid?.() === 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))].sort();
    log(`installing ${pkgs.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await run(['apt-get', 'update', '-qq'], { env });
    await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
    missing = missing.filter((r) => !isPresent(r.tool));
  }
  if (missing.length) throw new ToolMissingError(missing);
}
