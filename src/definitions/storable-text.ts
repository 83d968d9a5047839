// Text PostgreSQL cannot store, found before it is sent: NUL (U+0000, which neither text nor
// jsonb accept: 22021, 22P05) and lone surrogates (half of a UTF-16 pair: jsonb refuses the
// escape JSON.stringify writes for one, 22P02, and a text parameter would silently become
// U+FFFD). The insert checks, the job filters, reasons and names all refuse such text with a
// typed error; text docket writes on its own account (error messages) is cleaned instead.
import { ConfigError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** What makes `text` unstorable, or undefined when PostgreSQL can store it as is. */
export function unstorable(text: string): 'nul' | 'lone surrogate' | undefined {
  if (text.includes('\u0000')) return 'nul';
  return LONE_SURROGATE.test(text) ? 'lone surrogate' : undefined;
}

/** Whether PostgreSQL can store `text` (in text or jsonb): no NUL, no lone surrogate. */
export function storableText(text: string): boolean {
  return unstorable(text) === undefined;
}

/** `text` with NUL and lone surrogates replaced by U+FFFD (for text docket writes itself). */
export function toStorableText(text: string): string {
  return storableText(text) ? text : text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
}

/** Checks the reason of a cancel or discard; returns it as stored. A ConfigError naming `where` otherwise. */
export function checkReason(reason: unknown, where: string): string {
  const text = String(reason);
  if (!storableText(text)) throw new ConfigError(`${where}: the reason holds a NUL character or a lone surrogate, which PostgreSQL cannot store`);
  return text;
}
