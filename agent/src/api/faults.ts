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
  /** Headers the answer carries (405's Allow). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(statusCode: number, description: string, headers: Record<string, string> = {}) {
    super(`${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Error'}: ${description}`);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.headers = headers;
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
  return {
    ...makeFault(500, '500 Internal Server Error: The agent hit an internal error; see its log for details.'),
    hidden: true,
  };
}
