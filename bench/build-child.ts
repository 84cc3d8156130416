/** Runs one build in its own process so the benchmark can read that process's peak RSS. */
import { build } from '../builder/src/index.js';

const [cwd, output, overridesJson] = process.argv.slice(2);
const t0 = performance.now();
const r = await build({
  cwd: cwd!,
  output: output!,
  overrides: JSON.parse(overridesJson ?? '{}') as Record<string, unknown>,
  installHostTools: true,
  renderer: 'silent',
});
process.stdout.write(
  JSON.stringify({
    seconds: (performance.now() - t0) / 1000,
    outputDir: r.outputDir,
    timings: r.timings,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }) + '\n',
);
