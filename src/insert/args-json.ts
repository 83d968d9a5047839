// Encodes validated args as JSON once, for the insert statement, and refuses up front what the
// database would refuse later with a raw error, or what would not survive the round trip: values
// JSON cannot carry (BigInt, cycles, a throwing toJSON), NUL characters and lone surrogates
// (jsonb rejects both: 22P05, 22P02), and args larger than the Queue's `maxArgsBytes`. Each
// refusal is an ArgsValidationError naming the worker, the item of an insertMany and, for a bad
// string, its path; nothing reaches the database.
import { ArgsValidationError } from '../definitions/errors.js';
import { unstorable } from '../definitions/storable-text.js';

// An escape JSON.stringify writes for NUL or a lone surrogate (a paired one is written as is),
// preceded by an even number of backslashes, so that an escaped backslash followed by "u0000"
// in the text itself does not count.
const UNSTORABLE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

/** The JSON array of `values` for the insert, each checked; `indexed`: name items (insertMany). */
export function encodeArgs(worker: string, values: readonly unknown[], maxBytes: number, indexed: boolean): string {
  // The hot path encodes the batch once: only a batch that fails a check, or whose whole text
  // could hold an item over the limit, is looked at item by item to name the culprit.
  let text: string | undefined;
  try {
    text = JSON.stringify(values);
  } catch {
    text = undefined;
  }
  if (text === undefined || text.length * 3 > maxBytes || (text.includes('\\u') && UNSTORABLE_ESCAPE.test(text))) {
    for (let i = 0; i < values.length; i++) encodeOne(worker, values[i], maxBytes, indexed ? i : undefined);
  }
  // Every item passed (a whole batch may be over the limit; each item is not). A toJSON that
  // threw for the batch but not for its item alone still leaves nothing to store.
  if (text === undefined) throw refuse(worker, [], 'cannot be stored as JSON: encoding them failed', undefined);
  return text;
}

/** One job's args as JSON, or an ArgsValidationError saying why they cannot be stored. */
export function encodeOne(worker: string, value: unknown, maxBytes: number, index?: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw refuse(worker, [], `cannot be stored as JSON: ${describe(error)}`, index);
  }
  // undefined, a function or a symbol at the top: JSON has no value for it; stored as null.
  if (text === undefined) text = 'null';
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most args need no byte count at all.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) throw refuse(worker, [], `are ${bytes} bytes as JSON, over the limit of ${maxBytes} (Queue option maxArgsBytes)`, index);
  }
  if (text.includes('\\u') && UNSTORABLE_ESCAPE.test(text)) {
    const found = findUnstorable(value, []);
    const what = found?.nul === false ? 'a lone surrogate (half of a UTF-16 pair)' : 'a NUL character (\\u0000)';
    throw refuse(worker, found?.path ?? [], `contains ${what}, which PostgreSQL's jsonb cannot store`, index);
  }
  return text;
}

function refuse(worker: string, path: (string | number)[], message: string, index: number | undefined): ArgsValidationError {
  return new ArgsValidationError(worker, [{ path, message: path.length === 0 ? `args ${message}` : `string ${message}` }], index);
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'a value that cannot be described';
  }
}

// The first string (a value or a key) with NUL or a lone surrogate, and its path. Only called
// once the JSON text showed there is one, so the args are known to be acyclic.
function findUnstorable(value: unknown, path: (string | number)[]): { path: (string | number)[]; nul: boolean } | undefined {
  if (typeof value === 'string') {
    const nul = bad(value);
    return nul === undefined ? undefined : { path, nul };
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return findUnstorable(json.call(value), path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const nul = bad(key);
    if (nul !== undefined) return { path: [...path, key], nul };
    const found = findUnstorable(item, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

/** Whether JSON text (as JSON.stringify writes it) holds an escape jsonb refuses: NUL or a lone surrogate. */
export function storableJson(json: string): boolean {
  return !(json.includes('\\u') && UNSTORABLE_ESCAPE.test(json));
}

/** true: holds NUL; false: holds a lone surrogate; undefined: storable. */
function bad(text: string): boolean | undefined {
  const what = unstorable(text);
  return what === undefined ? undefined : what === 'nul';
}
