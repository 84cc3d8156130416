/**
 * node:http, node:https and node:tls for the agent, taken with
 * process.getBuiltinModule instead of an ES `import`. Importing a built-in
 * as an ES module makes Node read every export once, and that runs lazy
 * getters: node:http's WebSocket/CloseEvent/MessageEvent load undici (fetch,
 * web streams, ~9 MB of idle RSS) and node:tls's rootCertificates builds the
 * CA list. The bundle hoists every ES import of a built-in to its top, so
 * even a lazily imported module would pay that at start. The objects are
 * the same module exports an `import` would give (tests can still mock them).
 *
 * node:https and node:tls are only loaded when first used (an https URL, a
 * TLS listener): loading them costs about 3 MB of RSS (OpenSSL contexts,
 * node:crypto, node:tls), and an agent talking plain HTTP never needs them.
 * node:crypto alone likewise (1.2 MiB): the first token check, command id,
 * checksum or random erase pass loads it (docs/agent-memory.md).
 */
export const http = process.getBuiltinModule('node:http');

let httpsModule: typeof import('node:https') | undefined;
let tlsModule: typeof import('node:tls') | undefined;

/** node:https, loaded on first use. */
export function https(): typeof import('node:https') {
  httpsModule ??= process.getBuiltinModule('node:https');
  return httpsModule;
}

/** node:crypto, loaded on first use. */
export function crypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}

/** node:tls, loaded on first use. */
export function tls(): typeof import('node:tls') {
  tlsModule ??= process.getBuiltinModule('node:tls');
  return tlsModule;
}
