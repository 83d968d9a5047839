// Reads what a perform threw, whatever it is. A job's outcome must always be recordable, and
// perform may throw values on which every access throws: a Proxy, an Error whose `message` or
// `name` getter throws, a null-prototype object with a cycle. Reading them must never throw, or
// the job would stay `executing` until rescued.

/** What docket stores and reports of a thrown value. */
export interface ThrownRecord {
  readonly message: string;
  readonly name?: string;
  readonly stack?: string;
}

const UNREADABLE: ThrownRecord = { message: 'perform threw a value that cannot be read', name: 'UnreadableError' };

/** message, name and stack of an Error; a string as is; anything else as JSON or String(). */
export function readThrown(error: unknown): ThrownRecord {
  try {
    if (error instanceof Error) {
      const name = text(() => error.name) ?? 'Error';
      const message = text(() => error.message) || name;
      const stack = text(() => error.stack);
      return stack ? { message, name, stack } : { message, name };
    }
    if (typeof error === 'string') return { message: error };
    const described = text(() => JSON.stringify(error)) ?? text(() => String(error)) ?? text(() => Object.prototype.toString.call(error));
    return described === undefined ? UNREADABLE : { message: described };
  } catch {
    // `instanceof` itself throws for a Proxy whose getPrototypeOf trap throws.
    return UNREADABLE;
  }
}

/** A one-line description of a thrown value, for logs. */
export function describeThrown(error: unknown): string {
  const { message, name } = readThrown(error);
  return name === undefined || message.startsWith(name) ? message : `${name}: ${message}`;
}

function text(read: () => unknown): string | undefined {
  try {
    const value = read();
    if (value === undefined || value === null) return undefined;
    return typeof value === 'string' ? value : String(value);
  } catch {
    return undefined;
  }
}
