// Starts the agent (/usr/sbin/ramforge-agent runs this) with V8's code cache
// for the bundle, made at build time (builder/src/agent-compile-cache.ts).
// Node keeps compile caches in a directory named after V8's version, flags
// and this CPU's features, which the build cannot know: so the shipped
// entries are copied into the directory Node chose, then the bundle is
// loaded. Without them (or on any error here) the agent compiles as usual.
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { join } from 'node:path';

const HERE = '/usr/lib/ramforge-agent';
try {
  const shipped = join(HERE, 'compile-cache');
  if (existsSync(shipped)) {
    const base = '/run/ramforge-agent/compile-cache';
    enableCompileCache(base);
    // Node made its directory for this Node, V8 flags and CPU in `base` (the API does not name it).
    const mine = `v${process.versions.node}-${process.arch}-`;
    for (const dir of readdirSync(base).filter((d) => d.startsWith(mine)))
      for (const entry of readdirSync(shipped))
        if (!existsSync(join(base, dir, entry))) copyFileSync(join(shipped, entry), join(base, dir, entry));
  }
} catch (e) {
  process.stderr.write(`ramforge-agent: compile cache not used: ${e.message}\n`);
}
const { main } = await import(join(HERE, 'agent.mjs'));
await main();
