/**
 * The agent version, reported as `agent_version` in heartbeats and as
 * `version` in GET /v1/status.
 *
 * Why this shape: Ironic (Zed 21.4 and master) only stores agent_version in
 * driver_internal_info and requires it to be non-empty ("Agent did not
 * transmit a version"); nothing in the conductor parses it. Operators' tools
 * and IPA-era scripts do, though, so the string is valid both as a PEP 440
 * version (local label after '+') and as SemVer (build metadata after '+').
 * The major number sits above the agents of the Ironic series this is
 * tested with (Zed and 2023.1 ship IPA 9.x), so a naive "agent >= X" check
 * written for them passes; IPA itself has since reached 12.x, and a check
 * for a feature of those releases would not.
 */
export const AGENT_VERSION = '10.0.0+ramforge';

/** Name used in logs and the HTTP server banner. */
export const AGENT_NAME = 'ramforge-agent';
