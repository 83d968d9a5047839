// Text PostgreSQL cannot store, refused at the edge of the API: a NUL character (U+0000, which
// neither text nor jsonb accept) or a lone surrogate (half of a UTF-16 pair, which a JSON body
// can carry as "\ud800" and jsonb refuses). docket refuses both itself before writing, but deep
// in a job's args, a schedule, a filter or a workflow step, and with messages that can echo the
// bad text; here every request gets one answer: a 400 naming the field, before any handler runs.
//
// findUnstorableText walks a parsed value (object keys and values, array items by index) and
// returns the first bad place; refuseUnstorableText is the app's global preValidation hook
// (params, querystring, JSON body); the multipart reader (routes/upload.ts) checks its fields.
// Messages name the code unit as an escape (\u0000, \ud800), never the text around it.
import type { FastifyRequest } from 'fastify';
import type { HttpError } from '../routes/common.js';
import { badRequest } from '../routes/common.js';

/** Where the bad text is, and which code unit makes it bad. */
export interface UnstorableText {
  /** Path of the string, or of the object whose key holds the bad text. */
  readonly path: readonly (string | number)[];
  /** The bad text is a key of the object at `path`, not a value. */
  readonly inKey: boolean;
  readonly kind: 'nul' | 'lone surrogate';
  /** The offending code unit as an escape, e.g. `\u0000` or `\udc00`. */
  readonly unit: string;
}

const BAD_UNIT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The first bad code unit of `text`, or undefined when PostgreSQL can store it. */
function badUnit(text: string): { kind: UnstorableText['kind']; unit: string } | undefined {
  const match = BAD_UNIT.exec(text);
  if (match === null) return undefined;
  const code = match[0].charCodeAt(0);
  return { kind: code === 0 ? 'nul' : 'lone surrogate', unit: `\\u${code.toString(16).padStart(4, '0')}` };
}

/**
 * The first string (a value or an object key) of `value` PostgreSQL cannot store, in document
 * order, or undefined. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function findUnstorableText(value: unknown): UnstorableText | undefined {
  const stack: { value: unknown; path: readonly (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      const bad = badUnit(current);
      if (bad !== undefined) return { path, inKey: false, ...bad };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    const children: { value: unknown; path: readonly (string | number)[] }[] = [];
    if (Array.isArray(current)) {
      current.forEach((item, i) => children.push({ value: item, path: [...path, i] }));
    } else {
      for (const [key, item] of Object.entries(current)) {
        const bad = badUnit(key);
        if (bad !== undefined) return { path, inKey: true, ...bad };
        children.push({ value: item, path: [...path, key] });
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return undefined;
}

/** The 400 for a bad place found under `root` (body, querystring, params). */
export function unstorableTextError(root: string, found: UnstorableText): HttpError {
  const what = found.kind === 'nul' ? `a NUL byte (${found.unit})` : `a lone surrogate (${found.unit})`;
  return badRequest([root, ...found.path].join('.'), found.inKey ? `a key contains ${what}` : `must not contain ${what}`);
}

/** Throws the 400 when `value` (found under `root`) holds text PostgreSQL cannot store. */
export function assertStorableText(root: string, value: unknown): void {
  const found = findUnstorableText(value);
  if (found !== undefined) throw unstorableTextError(root, found);
}

/**
 * A global preValidation hook: params, querystring and a JSON (or text) body are parsed by now,
 * and nothing has been written. A multipart body is read later, by the route's own hook
 * (routes/upload.ts), which checks its fields the same way.
 */
export async function refuseUnstorableText(request: FastifyRequest): Promise<void> {
  assertStorableText('params', request.params);
  assertStorableText('querystring', request.query);
  assertStorableText('body', request.body);
}
