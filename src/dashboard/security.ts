// Who may do what: the auth hook's verdict, and what makes an action safe from cross-site
// request forgery. An action (a POST) must carry the CSRF token of a page this dashboard served
// in the `x-docket-csrf` header (a header another site's form or fetch cannot send without a
// CORS preflight, which nothing here approves) AND come from this origin by the browser's own
// account (Sec-Fetch-Site, Origin). Tokens are stateless: a random part signed with HMAC, so any
// instance sharing the secret accepts them. Also the page's Content-Security-Policy.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header an action must carry the page's token in. */
export const CSRF_HEADER = 'x-docket-csrf';

/** Issues and checks CSRF tokens signed with one secret. */
export interface CsrfTokens {
  /** A new token, for one page. */
  issue(): string;
  /** Whether `token` is one this secret signed (compared in constant time). */
  verify(token: unknown): boolean;
}

const TOKEN_RE = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** CSRF tokens signed with `secret` (random when none is given). */
export function csrfTokens(secret: Uint8Array | undefined): CsrfTokens {
  const key = secret ?? randomBytes(32);
  const sign = (nonce: string): Buffer => createHmac('sha256', key).update(`docket-dashboard-csrf:${nonce}`).digest();
  return {
    issue() {
      const nonce = randomBytes(16).toString('base64url');
      return `${nonce}.${sign(nonce).toString('base64url')}`;
    },
    verify(token) {
      if (typeof token !== 'string') return false;
      const match = TOKEN_RE.exec(token);
      if (match === null) return false;
      const given = Buffer.from(match[2]!, 'base64url');
      const expected = sign(match[1]!);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/**
 * Why a state-changing request does not come from this dashboard's own page, or `null` when it
 * does: Sec-Fetch-Site (sent by every current browser) must say same-origin, an Origin must
 * name this host, at least one of them must be there, and the CSRF token must verify.
 */
export function forgeryProblem(req: IncomingMessage, tokens: CsrfTokens): string | null {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  if (site === undefined && origin === undefined) return 'an action must come from the dashboard page (no Origin or Sec-Fetch-Site header)';
  if (site !== undefined && site !== 'same-origin') return `an action must come from the dashboard page (Sec-Fetch-Site: ${String(site)})`;
  if (origin !== undefined && !sameHost(origin, req.headers.host)) return `an action must come from the dashboard page (Origin ${JSON.stringify(origin)})`;
  const token = req.headers[CSRF_HEADER];
  if (token === undefined) return `the ${CSRF_HEADER} header is missing`;
  if (!tokens.verify(token)) return `the ${CSRF_HEADER} token is not valid: reload the page`;
  return null;
}

/** Whether `origin` names the host the request was sent to (default ports normalized by its scheme). */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    const from = new URL(origin);
    if (from.host === '' || host === undefined || host === '') return false;
    return new URL(`${from.protocol}//${host}`).host === from.host;
  } catch {
    return false;
  }
}

/** Calls the auth hook: true lets the request through (no hook: the insecure mode). */
export async function authorized(auth: ((req: IncomingMessage) => boolean | Promise<boolean>) | undefined, req: IncomingMessage): Promise<boolean> {
  if (auth === undefined) return true;
  return (await auth(req)) === true;
}

/** A fresh nonce for one page's script and style. */
export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The page's policy: nothing by default; its one script and one style by nonce (no inline
 * handlers, no eval); requests to its own origin only; never framed; no <base>, no forms.
 */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
