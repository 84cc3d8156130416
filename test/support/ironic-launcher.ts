/**
 * One real Ironic + Inspector for a whole test run (scripts/test.sh starts
 * this in the background): starts them, writes their endpoints as JSON to
 * the file named by argv[2] (sharedIronic() attaches to it through
 * RAMFORGE_TEST_IRONIC), and stops them, removing their directory, on
 * SIGTERM/SIGINT or when the process that started it is gone.
 *
 *   node --import tsx test/support/ironic-launcher.ts ENDPOINTS.json
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { startIronic, type IronicEndpoints } from './ironic.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: ironic-launcher.ts ENDPOINTS.json\n');
  process.exit(2);
}

const t0 = Date.now();
const env = await startIronic({ inspector: true });
const endpoints: IronicEndpoints = {
  apiUrl: env.apiUrl,
  inspectorUrl: env.inspectorUrl,
  httpUrl: env.httpUrl,
  httpRoot: env.httpRoot,
  rundir: env.rundir,
};
writeFileSync(`${out}.partial`, JSON.stringify(endpoints));
renameSync(`${out}.partial`, out);
process.stderr.write(`ironic-launcher: Ironic ${env.apiUrl}, Inspector ${env.inspectorUrl} ready in ${Date.now() - t0} ms\n`);

const parent = process.ppid;
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(watch);
  await env.stop();
  rmSync(out as string, { force: true });
  process.exit(0);
}
// The test script was killed without a chance to stop us: do not outlive it.
const watch = setInterval(() => {
  if (process.ppid !== parent) void stop();
}, 2000);
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
