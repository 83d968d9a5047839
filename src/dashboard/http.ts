// The HTTP plumbing of the dashboard on bare node:http objects (so it fits node:http, Express
// and Fastify alike): the headers every response carries, JSON and HTML responses, errors that
// become a status and a message, and reading a small JSON body (or one a framework already
// parsed) under a size limit.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request refused with this status and message (sent as JSON). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Headers of every response: no MIME sniffing, no referrer (URLs may carry job ids), never
 * framed, never cached (the page holds a CSRF token, the API live data), and not readable by
 * other origins' no-cors requests.
 */
export function baseHeaders(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
}

/**
 * JSON with `<`, `>` and `&` escaped as \u003c etc: still the same JSON to a parser, but never
 * markup, whatever a browser makes of it.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Sends `body` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = toJson(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Sends the standard error body: `{ statusCode, error, message }`. */
export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { statusCode: error.status, error: REASONS[error.status] ?? 'Error', message: error.message }, error.headers);
}

/** Sends an HTML document under the given Content-Security-Policy. */
export function sendHtml(res: ServerResponse, html: string, csp: string): void {
  res.statusCode = 200;
  res.setHeader('content-security-policy', csp);
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(html));
  res.end(html);
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * The request's JSON body: `undefined` when there is none. A body a framework already parsed
 * (`req.body`, as Express's json() leaves it) is taken as is. Otherwise it is read here, up to
 * `limit` bytes (413 past it), must be declared application/json (415) and must parse (400).
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && !Buffer.isBuffer(parsed) && typeof parsed !== 'string') return parsed;
  let text: string;
  if (parsed !== undefined) {
    text = parsed.toString();
    if (Buffer.byteLength(text) > limit) throw new HttpError(413, `The body is larger than ${limit} bytes`);
  } else if (req.readableEnded) {
    // Consumed by something in front of us that kept nothing: as if empty.
    return undefined;
  } else {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw new HttpError(413, `The body is larger than ${limit} bytes`, { connection: 'close' });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, `The body is larger than ${limit} bytes`, { connection: 'close' });
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  if (text.trim() === '') return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new HttpError(415, `The body must be application/json, got ${JSON.stringify(type || 'no content-type')}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'The body is not valid JSON');
  }
}
