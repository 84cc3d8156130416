/**
 * The agent's process-wide state: what lookup returned, the token, and the
 * hooks the heartbeater installs. Created once in main.ts, passed explicitly
 * (no module-level singletons) so tests can build as many agents as they like.
 */
import type { AgentConfig } from './config.js';
import type { Node } from './hardware/types.js';

export interface AgentState {
  readonly config: AgentConfig;
  /** Epoch seconds (float) when the process started: GET /v1/status started_at. */
  readonly startedAt: number;
  /** Reported as agent_version and in /v1/status. */
  readonly version: string;
  /** The agent token, from ipa-agent-token or the lookup (>= 32 chars). */
  token: string | undefined;
  /** Once a GET arrived carrying a token, every later GET must carry a valid one. */
  getTokenLatched: boolean;
  /**
   * Ironic issued a token this agent does not hold (the lookup answered
   * "******" with none held): every token check refuses, since only the
   * token's holder may command the node (IPA master locks down there).
   */
  tokenHeldElsewhere?: boolean;
  /** Node from the lookup (uuid, properties, instance_info, driver_internal_info). */
  node: Node | undefined;
  /** Seconds, from the lookup config (default 300). */
  heartbeatTimeout: number;
  /** Extra lookup config keys applied (md5 enable, permitted formats, skip bmc detect, ...). */
  lookupConfig: Record<string, unknown>;
  /** The URL sent as callback_url; fixed for the whole boot once chosen. */
  callbackUrl: string | undefined;
  /** PEM sent as agent_verify_ca when auto TLS is on. */
  verifyCaPem: string | undefined;
  /** Set by the heartbeater: ask for a heartbeat soon (after an async command ends). */
  requestHeartbeat: () => void;
  /** False once rescue.finalize_rescue or system.lockdown asked the agent to stop serving. */
  serveApi: boolean;
  /** Set by system.lockdown: after the API stops, every interface goes down and the agent idles. */
  lockdown?: boolean;
  /** Called when serveApi turns false, to close the listener. */
  onStopServing: () => void;
}

export function createState(config: AgentConfig, version: string): AgentState {
  return {
    config,
    startedAt: Date.now() / 1000,
    version,
    token: config.agentToken || undefined,
    getTokenLatched: false,
    node: undefined,
    heartbeatTimeout: 300,
    lookupConfig: {},
    callbackUrl: undefined,
    verifyCaPem: undefined,
    requestHeartbeat: () => {},
    serveApi: true,
    lockdown: false,
    onStopServing: () => {},
  };
}
