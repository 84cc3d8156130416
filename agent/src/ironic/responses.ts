/** Reading Ironic's answers: its error documents, and JSON objects. */

/**
 * Ironic wraps errors as {"error_message": "<JSON string>"} whose inner
 * document holds faultstring/faultcode (IPA _error_from_response). Returns
 * the most useful human text, e.g. "Error 400: Detected change in ...".
 */
export function describeIronicError(res: { status: number; text: string }): string {
  let text = res.text.trim();
  try {
    let body: unknown = JSON.parse(res.text);
    if (isObject(body) && 'error_message' in body) body = body.error_message;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        text = body as string;
      }
    }
    if (isObject(body)) {
      const pick = body.faultstring ?? body.title ?? body.description;
      if (typeof pick === 'string' && pick) text = pick;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the raw text.
  }
  if (text.length > 2000) text = `${text.slice(0, 2000)}…`;
  return `Error ${res.status}: ${text || '(empty body)'}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
