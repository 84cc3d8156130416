/**
 * node:http, node:https and node:tls for the agent, taken with
 * process.getBuiltinModule instead of an ES `import`. Importing a built-in
 * as an ES module makes Node read every export once, and that runs lazy
 * getters: node:http's WebSocket/CloseEvent/MessageEvent load undici (fetch,
 * web streams, ~9 MB of idle RSS) and node:tls's rootCertificates builds the
 * CA list. The bundle hoists every ES import of a built-in to its top, so
 * even a lazily imported module would pay that at start. The objects are
 * the same module exports an `import` would give (tests can still mock them).
 */
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
export const tls = process.getBuiltinModule('node:tls');
