// Schema names are the only identifiers users choose. They are checked and quoted here, once,
// and every statement is templated from the quoted form; nothing else is ever spliced into SQL.
import { ConfigError } from '../../definitions/errors.js';

// Letters, digits, `_`, `-`, `$` and spaces: enough for names like "My-Schema", while keeping
// the LISTEN channel (`docket:<schema>`) within PostgreSQL's 63-byte identifier limit.
const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_\- $]{0,49}$/;

/**
 * Checks a schema name and returns it double-quoted for use in SQL.
 * @throws ConfigError naming the problem
 */
export function quoteSchema(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_RE.test(schema)) {
    throw new ConfigError(
      `Invalid schema name ${JSON.stringify(schema)}: use 1–50 characters of letters, digits, "_", "-", "$" or space, starting with a letter or "_"`,
    );
  }
  if (/^pg_/i.test(schema)) throw new ConfigError(`Invalid schema name "${schema}": names starting with "pg_" are reserved by PostgreSQL`);
  return `"${schema}"`;
}
