/**
 * Driving a booted agent from the host the way the conductor does: POST a
 * command, poll GET /v1/commands/ until it finished. Plain HTTP on a
 * 127.0.0.1 hostfwd port (an agent without ipa-api-url serves no TLS and
 * wants no token).
 */
export interface AgentCommand {
  id: string;
  command_name: string;
  command_status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CLEANED';
  command_result: Record<string, any> | null;
  command_error: unknown;
}

export async function postAgentCommand(port: number, name: string, params: Record<string, unknown>, wait = false): Promise<AgentCommand> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/commands/?wait=${wait}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, params }),
    signal: AbortSignal.timeout(120_000),
  });
  const body = (await res.json()) as AgentCommand;
  if (res.status >= 400) throw new Error(`${name}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Run `name` and poll until it is no longer RUNNING; returns the final command (SUCCEEDED or FAILED). */
export async function runAgentCommand(
  port: number,
  name: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<AgentCommand> {
  const started = await postAgentCommand(port, name, params);
  const deadline = Date.now() + timeoutMs;
  for (let c = started; ; ) {
    if (c.command_status !== 'RUNNING') return c;
    if (Date.now() > deadline) throw new Error(`${name} still RUNNING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
    const res = await fetch(`http://127.0.0.1:${port}/v1/commands/${started.id}`, { signal: AbortSignal.timeout(30_000) });
    c = (await res.json()) as AgentCommand;
  }
}
