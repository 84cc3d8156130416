/**
 * Import directions (npm run check:imports). Layer rules look at runtime
 * imports only: `import type` is erased by tsc and cannot create a load-order
 * problem or a cycle. The builder/agent split holds for type imports too.
 *
 * Agent layers, top to bottom (a module may import its own layer or lower):
 *   main.ts (entry)
 *   api/
 *   commands/
 *   hardware/ image/ inspect/ ironic/
 *   util/ errors.ts config.ts state.ts
 */
const AGENT = '^agent/src/';
const BASE = `${AGENT}(util/|errors\\.ts$|config\\.ts$|state\\.ts$)`;
const DOMAIN = `${AGENT}(hardware|image|inspect|ironic)/`;
const RUNTIME = { dependencyTypesNot: ['type-only'] };

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'agent-not-to-builder',
      comment: 'The agent runs inside the ramdisk; it shares no code with the builder.',
      severity: 'error',
      from: { path: '^agent/' },
      to: { path: '^builder/' },
    },
    {
      name: 'builder-not-to-agent',
      comment: 'The builder bundles the agent by path (esbuild); it never imports agent modules.',
      severity: 'error',
      from: { path: '^builder/' },
      to: { path: '^agent/' },
    },
    {
      name: 'agent-base-not-upward',
      comment: 'util/, errors, config and state are the bottom layer: they import nothing above them.',
      severity: 'error',
      from: { path: BASE },
      to: { path: `${AGENT}(hardware|image|inspect|ironic|commands|api)/|${AGENT}main\\.ts$`, ...RUNTIME },
    },
    {
      name: 'agent-domain-not-to-commands',
      comment: 'hardware, image, inspect and ironic are used by commands/ and api/, never the reverse: move shared logic down.',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: `${AGENT}(commands|api)/|${AGENT}main\\.ts$`, ...RUNTIME },
    },
    {
      name: 'agent-commands-not-to-api',
      comment: 'commands/ is the IPA command model; the HTTP API calls it, not the reverse.',
      severity: 'error',
      from: { path: `${AGENT}commands/` },
      to: { path: `${AGENT}api/|${AGENT}main\\.ts$`, ...RUNTIME },
    },
    {
      name: 'agent-api-not-to-main',
      severity: 'error',
      from: { path: `${AGENT}api/` },
      to: { path: `${AGENT}main\\.ts$`, ...RUNTIME },
    },
    {
      name: 'builder-library-not-to-cli',
      comment: 'Only builder/src/cli/ touches argv, the console and process.exit; the library never imports it.',
      severity: 'error',
      from: { path: '^builder/src/', pathNot: '^builder/src/cli/' },
      to: { path: '^builder/src/cli/', ...RUNTIME },
    },
    {
      name: 'no-runtime-cycles',
      comment: 'A runtime import cycle (type-only imports excluded).',
      severity: 'error',
      from: {},
      to: { circular: true, ...RUNTIME, viaOnly: RUNTIME },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing (a typo, a missing dependency).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^agent/test/fixtures/[^/]+/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
