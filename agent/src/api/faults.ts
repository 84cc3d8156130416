/**
 * Every error the API answers with is {faultcode, faultstring} (IPA
 * app.format_exception): faultcode 'Server' for >= 500, faultstring always a
 * string, because the conductor does `'agent_token' in faultstring` and
 * matches 'busy' in it. Unexpected 5xx errors are logged, never echoed.
 */
import { AgentError } from '../errors.js';
import { http } from '../util/node-builtins.js';

export interface Fault {
  faultcode: 'Client' | 'Server';
  faultstring: string;
}

/** An HTTP-level rejection worded like werkzeug's ("401 Unauthorized: Token invalid."). */
export class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, description: string) {
    super(`${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Error'}: ${description}`);
    this.name = 'HttpError';
    this.statusCode = statusCode;
  }
}

function makeFault(status: number, faultstring: string): { status: number; fault: Fault } {
  return { status, fault: { faultcode: status >= 500 ? 'Server' : 'Client', faultstring } };
}

/** Map any thrown value to a status and fault body; `hidden` says the real error must only be logged. */
export function formatFault(err: unknown): { status: number; fault: Fault; hidden: boolean } {
  if (err instanceof HttpError) return { ...makeFault(err.statusCode, err.message), hidden: false };
  // IPA's RESTError.__str__ is "<message>: <details>".
  if (err instanceof AgentError)
    return { ...makeFault(err.code, err.details ? `${err.message}: ${err.details}` : err.message), hidden: false };
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const reason = http.STATUS_CODES[status] ?? 'Client Error';
    let detail = typeof e.message === 'string' ? e.message : reason;
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') detail = 'The request body is larger than the agent accepts.';
    else if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError)
      detail = `The request body is not valid JSON: ${detail}`;
    return { ...makeFault(status, `${status} ${reason}: ${detail}`), hidden: false };
  }
  return {
    ...makeFault(500, '500 Internal Server Error: The agent hit an internal error; see its log for details.'),
    hidden: true,
  };
}
