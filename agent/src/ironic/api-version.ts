/**
 * Ironic API microversions ("1.N") and the ones the agent cares about
 * (ipa-protocol.md §1). Compared numerically: "1.9" < "1.31".
 */

/** IPA's fallback when discovery fails (ironic_api_client.MIN_IRONIC_VERSION). */
export const MIN_IRONIC_VERSION = '1.31';
/** agent_version allowed in the heartbeat. */
export const AGENT_VERSION_IRONIC_VERSION = '1.36';
/** Lookup issues a token; heartbeat carries agent_token. */
export const AGENT_TOKEN_IRONIC_VERSION = '1.62';
/** agent_verify_ca allowed (auto TLS); IPA's MAX_KNOWN_VERSION. */
export const AGENT_VERIFY_CA_IRONIC_VERSION = '1.68';

/** "1.68" → [1, 68]; undefined for anything that is not "major.minor". */
export function parseApiVersion(v: string): [number, number] | undefined {
  const m = /^\s*(\d+)\.(\d+)\s*$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2])];
}

function compareApiVersions(a: string, b: string): number {
  const pa = parseApiVersion(a) ?? [0, 0];
  const pb = parseApiVersion(b) ?? [0, 0];
  return pa[0] - pb[0] || pa[1] - pb[1];
}

export function isVersionAtLeast(v: string, min: string): boolean {
  return compareApiVersions(v, min) >= 0;
}

export function chooseLowerVersion(a: string, b: string): string {
  return compareApiVersions(a, b) <= 0 ? a : b;
}

/** Normalizes "1.068" or " 1.68 " to "1.68"; undefined when unparsable. */
export function normalizeApiVersion(v: string): string | undefined {
  const p = parseApiVersion(v);
  return p ? `${p[0]}.${p[1]}` : undefined;
}
