// The help texts: `docket --help` (every command, the global options, the exit codes) and
// `docket <command> --help` (its usage, options and details). Built from the commands'
// own descriptions, so help never drifts from what the parser accepts.
import type { OptionSpecs } from './args.js';
import { GLOBAL_OPTIONS } from './args.js';
import type { Command } from './command.js';

const EXIT_CODES = [
  '  0  it worked',
  '  1  the operation failed or found nothing (no such job, a job that could not be cancelled, a database error)',
  '  2  usage: unknown command or option, missing or bad value',
  '  3  cannot connect to the database (refused, unknown host, timeout, authentication, no such database)',
];

function synopsis(command: Command): string {
  return `${command.words.join(' ')}${command.args === undefined ? '' : ` ${command.args}`}`;
}

function usage(command: Command): string {
  return `docket ${synopsis(command)}`;
}

function options(specs: OptionSpecs): string[] {
  const names = Object.entries(specs).map(([name, s]) => [`${s.short === undefined ? '    ' : `-${s.short}, `}--${name}${s.value === undefined ? '' : ` ${s.value}`}`, s.help] as const);
  const width = Math.max(...names.map(([n]) => n.length));
  return names.map(([n, help]) => `  ${n.padEnd(width)}  ${help}`);
}

/** `docket --help`. */
export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => synopsis(c).length));
  return [
    'docket: operate a docket job queue (PostgreSQL) from the command line',
    '',
    'Usage: docket <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${synopsis(c).padEnd(width)}  ${c.summary}`),
    '',
    'Options of every command:',
    ...options(GLOBAL_OPTIONS),
    '',
    'Exit codes:',
    ...EXIT_CODES,
    '',
    'Colours only on a terminal, and never with NO_COLOR set. `docket <command> --help` for its options.',
  ].join('\n');
}

/** `docket <group>` without a command: the group's commands. */
export function groupHelp(group: string, commands: readonly Command[]): string {
  const mine = commands.filter((c) => c.words[0] === group);
  const width = Math.max(...mine.map((c) => usage(c).length));
  return [`Usage: docket ${group} <command> [options]`, '', 'Commands:', ...mine.map((c) => `  ${usage(c).padEnd(width)}  ${c.summary}`)].join('\n');
}

/** `docket <command> --help`. */
export function commandHelp(command: Command): string {
  const own = Object.keys(command.options).length > 0 ? ['Options:', ...options(command.options), ''] : [];
  return [
    `Usage: ${usage(command)} [options]`,
    '',
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details === undefined ? [] : ['', command.details]),
    '',
    ...own,
    'Options of every command:',
    ...options(GLOBAL_OPTIONS),
  ].join('\n');
}
