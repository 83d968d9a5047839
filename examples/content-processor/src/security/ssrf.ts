// SSRF guard for every outbound request a job makes (image sources, webhooks).
//
// - assertPublicTarget(url) parses the URL (WHATWG: odd IPv4 spellings such as 2130706433,
//   0x7f.1 or 017700000001 are normalised to 127.0.0.1 before we look), resolves the host with
//   DNS and refuses the URL if ANY address it resolves to is not public: loopback, private,
//   link-local (cloud metadata included), CGNAT, unspecified, multicast, reserved, IPv6 ULA and
//   link-local, and IPv4 hidden in IPv6 (mapped, compatible, NAT64, 6to4, Teredo).
// - safeFetch() connects ONLY to the addresses that were checked (the socket's DNS lookup is
//   pinned to them, so a DNS rebinding between check and connect cannot switch the target),
//   re-checks every redirect hop, and enforces a total time limit and a body size limit.
//
// `allowPrivate` (ALLOW_PRIVATE_TARGETS, and tests with 127.0.0.1 receivers) lets loopback,
// private, link-local and ULA through; unspecified, multicast, reserved and the cloud metadata
// endpoints stay refused even then, as do schemes other than http and https.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { LookupAddress } from 'node:dns';

/** The target is not allowed (scheme, address class); retrying will not help. */
export class BlockedTargetError extends Error {
  readonly code = 'EBLOCKEDTARGET';
  readonly url: string;
  readonly address: string | undefined;
  constructor(url: string, reason: string, address?: string) {
    super(`blocked target ${redactUrl(url)}: ${reason}`);
    this.name = 'BlockedTargetError';
    this.url = redactUrl(url);
    this.address = address;
  }
}

/** The request did not finish within its time limit. */
export class FetchTimeoutError extends Error {
  readonly code = 'EFETCHTIMEOUT';
  constructor(url: string, timeoutMs: number) {
    super(`request to ${redactUrl(url)} did not finish within ${timeoutMs} ms`);
    this.name = 'FetchTimeoutError';
  }
}

/** The response body is larger than allowed. */
export class ResponseTooLargeError extends Error {
  readonly code = 'ERESPONSETOOLARGE';
  constructor(url: string, maxBytes: number) {
    super(`response from ${redactUrl(url)} exceeds ${maxBytes} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

// --- address classification ------------------------------------------------------------

type Rule = { readonly base: bigint; readonly bits: number; readonly reason: string; readonly always: boolean };

function v4(cidr: string, reason: string, always = false): Rule {
  const [ip, bits] = cidr.split('/') as [string, string];
  return { base: parseIPv4(ip)!, bits: Number(bits), reason, always };
}
function v6(cidr: string, reason: string, always = false): Rule {
  const [ip, bits] = cidr.split('/') as [string, string];
  return { base: parseIPv6(ip)!, bits: Number(bits), reason, always };
}

// `always`: refused even with allowPrivate. Most specific rules first.
const IPV4_RULES: readonly Rule[] = [
  v4('169.254.169.254/32', 'cloud metadata endpoint', true),
  v4('169.254.170.2/32', 'cloud metadata endpoint', true),
  v4('100.100.100.200/32', 'cloud metadata endpoint', true),
  v4('0.0.0.0/8', 'unspecified / "this network" address', true),
  v4('224.0.0.0/4', 'multicast address', true),
  v4('255.255.255.255/32', 'broadcast address', true),
  v4('240.0.0.0/4', 'reserved address', true),
  v4('127.0.0.0/8', 'loopback address'),
  v4('10.0.0.0/8', 'private address'),
  v4('172.16.0.0/12', 'private address'),
  v4('192.168.0.0/16', 'private address'),
  v4('169.254.0.0/16', 'link-local address'),
  v4('100.64.0.0/10', 'carrier-grade NAT address'),
  v4('192.0.0.0/24', 'IETF protocol assignment'),
  v4('192.0.2.0/24', 'documentation address'),
  v4('198.51.100.0/24', 'documentation address'),
  v4('203.0.113.0/24', 'documentation address'),
  v4('198.18.0.0/15', 'benchmarking address'),
  v4('192.88.99.0/24', '6to4 relay anycast'),
];

const IPV6_RULES: readonly Rule[] = [
  v6('fd00:ec2::254/128', 'cloud metadata endpoint', true),
  v6('::/128', 'unspecified address', true),
  v6('ff00::/8', 'multicast address', true),
  v6('::1/128', 'loopback address'),
  v6('fc00::/7', 'unique local address'),
  v6('fe80::/10', 'link-local address'),
  v6('fec0::/10', 'site-local address'),
  v6('100::/64', 'discard-only address'),
  v6('2001:db8::/32', 'documentation address'),
  v6('2001:10::/28', 'ORCHID address'),
  v6('2001:20::/28', 'ORCHIDv2 address'),
  v6('64:ff9b:1::/48', 'local-use NAT64 address'),
];

const MASK32 = (1n << 32n) - 1n;
const within = (value: bigint, rule: Rule, width: number) => value >> BigInt(width - rule.bits) === rule.base >> BigInt(width - rule.bits);

/**
 * Why an IP address is not public, or `undefined` when it is.
 * `always`: refused even with allowPrivate.
 */
export function classifyAddress(ip: string): { reason: string; always: boolean } | undefined {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(bare);
  if (family === 4) {
    const value = parseIPv4(bare)!;
    const rule = IPV4_RULES.find((r) => within(value, r, 32));
    return rule && { reason: rule.reason, always: rule.always };
  }
  if (family !== 6) return { reason: `not an IP address: ${ip}`, always: true };
  const value = parseIPv6(bare)!;
  const rule = IPV6_RULES.find((r) => within(value, r, 128));
  if (rule) return { reason: rule.reason, always: rule.always };
  // IPv4 carried inside IPv6: judge the IPv4 address.
  const embedded = embeddedIPv4(value);
  if (embedded) {
    const inner = classifyAddress(embedded.ip);
    return inner && { reason: `${inner.reason} (${embedded.kind} ${embedded.ip})`, always: inner.always };
  }
  return undefined;
}

function embeddedIPv4(value: bigint): { ip: string; kind: string } | undefined {
  const top96 = value >> 32n;
  if (top96 === 0xffffn) return { ip: formatIPv4(value & MASK32), kind: 'IPv4-mapped' };
  if (top96 === 0n) return { ip: formatIPv4(value & MASK32), kind: 'IPv4-compatible' };
  if (top96 === 0xffff0000n) return { ip: formatIPv4(value & MASK32), kind: 'IPv4-translated' };
  if (top96 === parseIPv6('64:ff9b::')! >> 32n) return { ip: formatIPv4(value & MASK32), kind: 'NAT64' };
  if (value >> 112n === 0x2002n) return { ip: formatIPv4((value >> 80n) & MASK32), kind: '6to4' };
  if (value >> 96n === 0x20010000n) return { ip: formatIPv4(~value & MASK32), kind: 'Teredo' };
  return undefined;
}

function parseIPv4(ip: string): bigint | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function parseIPv6(ip: string): bigint | undefined {
  let text = ip;
  let tail: string[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
    const quad = parseIPv4(text.slice(lastColon + 1));
    if (quad === undefined) return undefined;
    tail = [((quad >> 16n) & 0xffffn).toString(16), (quad & 0xffffn).toString(16)];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest, ...tail];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

// --- URL checks -------------------------------------------------------------------------

export interface TargetOptions {
  /** Let loopback, private, link-local and ULA addresses through (dev and tests). */
  allowPrivate?: boolean;
  /** Aborts the DNS wait. */
  signal?: AbortSignal;
  /** The resolver (default: dns.lookup, every address). Tests inject one to play DNS tricks. */
  resolve?: (host: string) => Promise<LookupAddress[]>;
}

const systemResolve = (host: string) => dns.promises.lookup(host, { all: true, verbatim: true });

export interface CheckedTarget {
  url: URL;
  /** Every address the host resolved to, all allowed; connections must use only these. */
  addresses: LookupAddress[];
}

/**
 * Refuses `url` unless it is http(s) and every address its host resolves to is public (or,
 * with allowPrivate, at least not always-refused).
 * @throws BlockedTargetError when refused; a DNS error (e.g. ENOTFOUND) when the host does not resolve
 */
export async function assertPublicTarget(url: string | URL, options: TargetOptions = {}): Promise<CheckedTarget> {
  const text = String(url);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new BlockedTargetError(text, 'not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BlockedTargetError(text, `scheme ${parsed.protocol} is not allowed (http and https only)`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (host === '') throw new BlockedTargetError(text, 'no host');
  // RFC 6761: "localhost" and its subdomains are loopback whatever DNS says (or fails to say).
  if (!options.allowPrivate && /(^|\.)localhost$/i.test(host.replace(/\.$/, ''))) throw new BlockedTargetError(text, `${host} is a loopback name`);

  let addresses: LookupAddress[];
  const literal = net.isIP(host);
  if (literal !== 0) addresses = [{ address: host, family: literal }];
  else addresses = await abortable((options.resolve ?? systemResolve)(host), options.signal);
  if (addresses.length === 0) throw new Error(`${host} resolved to no address`);

  for (const { address } of addresses) {
    const verdict = classifyAddress(address);
    if (verdict && (verdict.always || !options.allowPrivate)) {
      throw new BlockedTargetError(text, `${host}${literal ? '' : ` resolves to ${address}, which`} is a ${verdict.reason}`, address);
    }
  }
  return { url: parsed, addresses };
}

// --- fetching ---------------------------------------------------------------------------

export interface SafeFetchOptions extends TargetOptions {
  /** Total time for DNS, connect, headers and body, across redirects. Default 10 s. */
  timeoutMs?: number;
  /** Largest body accepted. Default 20 MiB. */
  maxBytes?: number;
  method?: 'GET' | 'POST' | 'PUT' | 'HEAD';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Redirects followed for GET (each hop checked again). Default 3; other methods never follow. */
  maxRedirects?: number;
}

export interface SafeFetchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
  /** The address connected to. */
  address: string;
}

/**
 * Requests `url` (checked by assertPublicTarget, and again on every redirect), connecting only
 * to the checked addresses, within `timeoutMs` and `maxBytes`. Any HTTP status resolves.
 * @throws BlockedTargetError, FetchTimeoutError, ResponseTooLargeError, or the network error
 */
export async function safeFetch(url: string | URL, options: SafeFetchOptions = {}): Promise<SafeFetchResponse> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const method = options.method ?? 'GET';
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  let current = String(url);
  try {
    for (let hop = 0; ; hop++) {
      const target = await assertPublicTarget(current, { allowPrivate: options.allowPrivate ?? false, signal, ...(options.resolve ? { resolve: options.resolve } : {}) });
      const response = await request(target, method, options, maxBytes, signal);
      const location = response.headers.location;
      if (response.status >= 300 && response.status < 400 && location && method === 'GET' && hop < (options.maxRedirects ?? 3)) {
        current = new URL(location, target.url).toString();
        continue;
      }
      return response;
    }
  } catch (error) {
    if (deadline.aborted && !options.signal?.aborted) throw new FetchTimeoutError(current, timeoutMs);
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw error;
  }
}

function request(target: CheckedTarget, method: string, options: SafeFetchOptions, maxBytes: number, signal: AbortSignal): Promise<SafeFetchResponse> {
  const { url, addresses } = target;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // The socket's DNS lookup answers with the checked addresses only (no second resolution).
  const pinned = ((hostname: string, opts: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (hostname !== host) return callback(new BlockedTargetError(url.toString(), `unexpected lookup of ${hostname}`));
    if (opts?.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  }) as unknown as net.LookupFunction;
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'content-processor/1.0', ...options.headers };
  if (body) headers['content-length'] = String(body.length);

  return new Promise<SafeFetchResponse>((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, { method, headers, lookup: pinned, agent: false, signal }, (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        reject(new ResponseTooLargeError(url.toString(), maxBytes)); // before destroy(), which emits 'aborted'
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          reject(new ResponseTooLargeError(url.toString(), maxBytes));
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`response from ${redactUrl(url.toString())} was aborted`)));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: url.toString(), address: res.socket?.remoteAddress ?? '' }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The URL without credentials or query (which may hold tokens), for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.length > 100 ? `${url.slice(0, 100)}…` : url;
  }
}
