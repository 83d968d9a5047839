// Cron tick times across the 2026 DST transitions of New York and London (no database): an
// interval schedule fires on every real interval, a fixed local time runs exactly once on its
// local day whether that time is skipped (spring forward) or repeated (fall back), and bad
// zones or expressions are ConfigErrors.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { checkExpression, checkTimezone, nextTick, ticksBetween } from '../../src/cron/expression.js';

const HOUR = 3_600_000;

/** A local day in a zone, as the UTC instants it starts and ends at (23 or 25 real hours). */
interface TransitionDay {
  zone: string;
  date: string;
  start: string;
  end: string;
  hours: number;
}

const DAYS: TransitionDay[] = [
  // 02:00 EST -> 03:00 EDT: 02:00-02:59 does not exist.
  { zone: 'America/New_York', date: '2026-03-08', start: '2026-03-08T05:00:00Z', end: '2026-03-09T04:00:00Z', hours: 23 },
  // 02:00 EDT -> 01:00 EST: 01:00-01:59 happens twice.
  { zone: 'America/New_York', date: '2026-11-01', start: '2026-11-01T04:00:00Z', end: '2026-11-02T05:00:00Z', hours: 25 },
  // 01:00 GMT -> 02:00 BST: 01:00-01:59 does not exist.
  { zone: 'Europe/London', date: '2026-03-29', start: '2026-03-29T00:00:00Z', end: '2026-03-29T23:00:00Z', hours: 23 },
  // 02:00 BST -> 01:00 GMT: 01:00-01:59 happens twice.
  { zone: 'Europe/London', date: '2026-10-25', start: '2026-10-24T23:00:00Z', end: '2026-10-26T00:00:00Z', hours: 25 },
];

/** The local calendar date (YYYY-MM-DD) of an instant in a zone. */
function localDate(ms: number, zone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

/** The local wall-clock time (HH:MM) of an instant in a zone. */
function localTime(ms: number, zone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** Ticks in the local day [start, end). */
function ticksOfDay(expression: string, day: TransitionDay): number[] {
  return ticksBetween(expression, day.zone, Date.parse(day.start) - 1, Date.parse(day.end) - 1);
}

describe.each(DAYS)('$zone on $date', (day) => {
  const start = Date.parse(day.start);
  const end = Date.parse(day.end);

  it('the day boundaries are right (sanity check of the fixture)', () => {
    expect((end - start) / HOUR).toBe(day.hours);
    expect(localDate(start, day.zone)).toBe(day.date);
    expect(localTime(start, day.zone)).toBe('00:00');
    expect(localDate(start - 1, day.zone)).not.toBe(day.date);
    expect(localDate(end - 1, day.zone)).toBe(day.date);
    expect(localDate(end, day.zone)).not.toBe(day.date);
  });

  it("'*/15 * * * *' fires exactly 4 times in every real hour, a quarter of an hour apart", () => {
    // From two hours before the local day to two hours after, so the transition is well inside.
    const perHour: Record<string, number> = {};
    for (let h = start - 2 * HOUR; h < end + 2 * HOUR; h += HOUR) {
      const ticks = ticksBetween('*/15 * * * *', day.zone, h - 1, h + HOUR - 1);
      perHour[new Date(h).toISOString()] = ticks.length;
      expect(ticks, new Date(h).toISOString()).toEqual([h, h + 15 * 60_000, h + 30 * 60_000, h + 45 * 60_000]);
    }
    expect(Object.keys(perHour)).toHaveLength(day.hours + 4);
    const all = ticksOfDay('*/15 * * * *', day);
    expect(all).toHaveLength(4 * day.hours);
    expect(new Set(all).size).toBe(all.length);
  });

  it("'30 2 * * *' runs exactly once on the day, and once on the days around it", () => {
    const ticks = ticksOfDay('30 2 * * *', day);
    expect(ticks.map((t) => new Date(t).toISOString())).toHaveLength(1);
    expect(localDate(ticks[0]!, day.zone)).toBe(day.date);
    if (day.zone === 'America/New_York' && day.date === '2026-03-08') {
      // 02:30 does not exist that day: it runs after the gap, not at all before it, and once.
      expect(localTime(ticks[0]!, day.zone) >= '03:00').toBe(true);
    } else {
      expect(localTime(ticks[0]!, day.zone)).toBe('02:30');
    }
    // The whole three days around the transition: one run per local date.
    const around = ticksBetween('30 2 * * *', day.zone, start - 24 * HOUR - 1, end + 24 * HOUR + HOUR);
    const dates = around.map((t) => localDate(t, day.zone));
    expect(new Set(dates).size).toBe(dates.length);
    expect(dates).toContain(day.date);
    // nextTick agrees with ticksBetween.
    expect(nextTick('30 2 * * *', day.zone, start - 1)).toBe(ticks[0]);
  });

  it("'30 1 * * *' (skipped in London's spring, repeated in both autumns) runs exactly once", () => {
    const ticks = ticksOfDay('30 1 * * *', day);
    expect(ticks.map((t) => new Date(t).toISOString())).toHaveLength(1);
    expect(localDate(ticks[0]!, day.zone)).toBe(day.date);
  });
});

it("a fixed time in New York's repeated hour (01:30 on 2026-11-01) runs once, at the first 01:30 (EDT)", () => {
  const day = DAYS[1]!;
  const ticks = ticksOfDay('30 1 * * *', day);
  expect(ticks.map((t) => new Date(t).toISOString())).toEqual(['2026-11-01T05:30:00.000Z']);
  // The second 01:30 (EST, 06:30Z) is not a tick.
  expect(ticksBetween('30 1 * * *', day.zone, Date.parse('2026-11-01T05:30:00Z'), Date.parse('2026-11-01T07:00:00Z'))).toEqual([]);
});

it('six fields put seconds first', () => {
  const from = Date.parse('2026-01-01T00:00:00Z');
  expect(ticksBetween('*/2 * * * * *', 'UTC', from, from + 10_000)).toEqual([2, 4, 6, 8, 10].map((s) => from + s * 1000));
  expect(nextTick('*/2 * * * * *', 'UTC', from + 1)).toBe(from + 2000);
});

describe('validation', () => {
  it('checkTimezone throws a ConfigError for an unknown zone and accepts IANA zones', () => {
    for (const bad of ['Mars/Olympus', '', 'Not A Zone', 42, null, undefined]) {
      expect(() => checkTimezone(bad, 'test'), String(bad)).toThrow(ConfigError);
    }
    expect(() => checkTimezone('Mars/Olympus', 'test')).toThrow(/Mars\/Olympus/);
    for (const good of ['UTC', 'America/New_York', 'Europe/London', 'Asia/Kolkata']) {
      expect(checkTimezone(good, 'test')).toBe(good);
    }
  });

  it('checkExpression throws a ConfigError for an invalid expression and accepts valid ones', () => {
    for (const bad of ['61 * * * *', '* 25 * * *', '* * 32 * *', '* * * 13 *', 'every minute', '', '   ', 7, null, '* * * * * * *', '0 9 * * 1-5 2026']) {
      expect(() => checkExpression(bad, 'UTC', 'test'), JSON.stringify(bad)).toThrow(ConfigError);
    }
    expect(() => checkExpression('61 * * * *', 'UTC', 'test')).toThrow(/61 \* \* \* \*/);
    for (const good of ['*/15 * * * *', '30 2 * * *', '0 9 * * MON-FRI', '*/2 * * * * *', '0 0 1 1 *']) {
      expect(checkExpression(good, 'Europe/London', 'test')).toBe(good);
    }
  });

  it('checkExpression refuses fewer than 5 fields (documented: 5 fields, or 6 with seconds first)', () => {
    // cron-parser right-aligns short expressions: '5' would mean "Fridays at 00:00", and
    // '0 9 * *' (a forgotten field) "every minute of 00:00-00:59 on the 9th". Such typos must
    // be ConfigErrors, not schedules.
    for (const short of ['5', '0 9 * *', '* * * *', '30 2 *']) {
      expect(() => checkExpression(short, 'UTC', 'test'), JSON.stringify(short)).toThrow(ConfigError);
    }
  });
});
