// How the CLI prints: aligned tables, key/value blocks, durations, JSON, and colours. Colours
// only when stdout is a terminal and NO_COLOR is not set (https://no-color.org), so that piped
// output and logs never carry escape codes. JSON is the API's own objects (dates as ISO 8601),
// pretty-printed: what `--json` promises to keep stable.

/** Where output goes: process.stdout, or a buffer in tests. */
export interface Stream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Whether to colour `stream`: a TTY, and NO_COLOR unset or empty. */
export function wantsColor(stream: Stream, env: Readonly<Record<string, string | undefined>>): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

const STYLES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;

/** A text style. */
export type Style = keyof typeof STYLES;

// Job and workflow states by how an operator should read them.
const STATE_STYLES: Readonly<Record<string, Style>> = {
  completed: 'green',
  discarded: 'red',
  cancelled: 'red',
  failed: 'red',
  executing: 'cyan',
  running: 'cyan',
  retryable: 'yellow',
  paused: 'yellow',
  scheduled: 'dim',
  held: 'dim',
};

const ANSI = /\x1b\[[0-9;]*m/g;

/** A table column: its header, and numbers right-aligned. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** Printer for one command's output. */
export class Output {
  constructor(
    private readonly stream: Stream,
    /** Whether escape codes may be written. */
    readonly color: boolean,
  ) {}

  /** Writes one line. */
  line(text = ''): void {
    this.stream.write(`${text}\n`);
  }

  /** Writes a value as JSON (dates become ISO strings). */
  json(value: unknown): void {
    this.stream.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** `text` in `style`, or as is without colours. */
  paint(style: Style, text: string): string {
    return this.color ? `\x1b[${STYLES[style]}m${text}\x1b[0m` : text;
  }

  /** A job, workflow or queue state, coloured by what it means. */
  state(state: string): string {
    const style = STATE_STYLES[state];
    return style === undefined ? state : this.paint(style, state);
  }

  /** Writes rows under headers, each column as wide as its widest cell. */
  table(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
    const width = (text: string): number => text.replace(ANSI, '').length;
    const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => width(r[i] ?? ''))));
    const render = (cells: readonly string[]): string =>
      cells
        .map((cell, i) => {
          const pad = ' '.repeat(Math.max(0, widths[i]! - width(cell)));
          return columns[i]?.align === 'right' ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd();
    this.line(this.paint('bold', render(columns.map((c) => c.header))));
    for (const row of rows) this.line(render(row));
  }

  /** Writes `label  value` lines with the values aligned. */
  fields(entries: readonly (readonly [string, string])[]): void {
    const width = Math.max(...entries.map(([label]) => label.length));
    for (const [label, value] of entries) this.line(`${this.paint('dim', label.padEnd(width))}  ${value}`);
  }
}

/** A duration for people: `850ms`, `12s`, `5m 02s`, `3h 04m`, `2d 03h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor(s / 3600) % 24)}h`;
}

/** A moment relative to `now`: `5m 02s ago`, `in 12s`. */
export function relative(at: Date, now: number): string {
  const ms = at.getTime() - now;
  return ms > 0 ? `in ${duration(ms)}` : `${duration(-ms)} ago`;
}

/** A date as ISO 8601 with the time relative to now, or `-`. */
export function when(at: Date | null, now: number): string {
  return at === null ? '-' : `${at.toISOString()} (${relative(at, now)})`;
}

/** JSON on one line, cut to `max` characters. */
export function compactJson(value: unknown, max = Infinity): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
