// Command-line parsing on node:util parseArgs: the options every command takes, the two passes
// (find the command words, then parse strictly with that command's options, so an option of
// another command is reported as unknown), and the checks of option values. Every problem is a
// UsageError naming the option and what was wrong with it.
import { parseArgs } from 'node:util';
import { UsageError } from './exit.js';

/** One option of a command, as parseArgs takes it plus what `--help` shows. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in help, e.g. `<name>`. */
  readonly value?: string;
  readonly help: string;
}

/** Options by long name (without the dashes). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Parsed option values, by long name. */
export type Values = Readonly<Record<string, string | boolean | readonly (string | boolean)[] | undefined>>;

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  'database-url': { type: 'string', value: '<url>', help: 'PostgreSQL connection string (default: $DATABASE_URL)' },
  schema: { type: 'string', value: '<name>', help: "schema of docket's tables (default: the Queue's default, docket)" },
  json: { type: 'boolean', help: 'print JSON instead of text (stable, for scripts)' },
  help: { type: 'boolean', short: 'h', help: 'show help for the command' },
};

function toParseArgs(specs: OptionSpecs): Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> {
  return Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [name, { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) }]),
  );
}

/**
 * The words of the command line (positionals), read with every option any command knows so
 * that an option's value is never taken for a word, and whether help was asked for. Unknown
 * options are left for the strict pass.
 */
export function commandWords(argv: readonly string[], allOptions: OptionSpecs): { words: string[]; help: boolean } {
  const { values, positionals } = parseArgs({ args: [...argv], options: toParseArgs(allOptions), strict: false, allowPositionals: true });
  return { words: positionals, help: values.help === true };
}

/** parseArgs' error codes, turned into messages that name the command and the option. */
function usageFromParseError(error: unknown, command: string): UsageError {
  const { code, message } = error as { code?: string; message?: string };
  const text = String(message ?? error);
  const option = /'(-[^']*)'/.exec(text)?.[1];
  const hint = `see: docket ${command} --help`;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${option ?? text} for "docket ${command}" (${hint})`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // "Option '--limit <value>' argument missing" / "Option '--json' does not take an argument"
      const name = option?.split(' ')[0] ?? 'an option';
      return new UsageError(`${name} ${text.endsWith('argument missing') ? 'needs a value' : 'takes no value'} (${hint})`);
    }
    default:
      return new UsageError(`${text} (${hint})`);
  }
}

/** The strict pass: options and positionals of one command (`skip` command words dropped). */
export function parseCommandLine(
  argv: readonly string[],
  options: OptionSpecs,
  command: string,
  skip: number,
): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: toParseArgs({ ...GLOBAL_OPTIONS, ...options }), strict: true, allowPositionals: true });
    return { values: values as Values, positionals: positionals.slice(skip) };
  } catch (error) {
    throw usageFromParseError(error, command);
  }
}

/** A string option's value (the last one given), or undefined. */
export function stringValue(values: Values, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const last = Array.isArray(value) ? value.at(-1) : value;
  if (typeof last !== 'string') return undefined;
  if (last.length === 0) throw new UsageError(`option --${name} needs a non-empty value`);
  return last;
}

/** Every value of a repeatable option, commas splitting values too (`--state a,b --state c`). */
export function listValue(values: Values, name: string, split = true): string[] {
  const value = values[name];
  const given = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const out = given.flatMap((v) => (split ? String(v).split(',') : [String(v)])).map((v) => v.trim());
  if (out.some((v) => v.length === 0)) throw new UsageError(`option --${name} has an empty value`);
  return out;
}

/** An integer option within bounds, or undefined when not given. */
export function intValue(values: Values, name: string, min: number, max: number): number | undefined {
  const text = stringValue(values, name);
  return text === undefined ? undefined : parseInteger(text, `--${name}`, min, max);
}

/** Parses `text` as an integer within bounds; `what` names it in the error. */
export function parseInteger(text: string, what: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

/** A choice among `allowed`, or undefined when not given. */
export function choiceValue<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const text = stringValue(values, name);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`option --${name} must be one of ${allowed.join(', ')}, got "${text}"`);
  return text as T;
}

/** Checks a job or workflow id given as an argument. */
export function idArgument(text: string | undefined, what: string): string {
  if (text === undefined) throw new UsageError(`a ${what} id is required`);
  if (!/^[1-9][0-9]{0,18}$/.test(text)) throw new UsageError(`${what} id must be a positive integer, got "${text}"`);
  return text;
}
