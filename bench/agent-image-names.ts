/**
 * The image section's variant names, apart from agent-image.ts so that
 * run.ts can print the figures without loading the agent's code.
 */
export const AGENT = 'agent (O_DIRECT, hash in a worker)';
export const AGENT_BUFFERED = 'agent (buffered writes)';
export const CURL_O = 'curl -o file';
export const CURL_TEE = 'curl | tee >(sha256sum) > file';

/** "min–max" of MB/s figures. */
export const spread = (xs: number[]): string => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
