// Cron expressions and time zones: validation with typed errors, and tick times. cron-parser
// walks real time in the schedule's zone, so DST behaves as people expect (checked by tests on
// both 2026 transitions in New York and London): a local time that does not exist that day runs
// once, right after the gap; a local time that happens twice runs once (the first); and
// interval schedules fire on every real interval, through the repeated hour too.
import { CronExpressionParser } from 'cron-parser';
import { ConfigError } from '../definitions/errors.js';

/** Throws a ConfigError unless `zone` is an IANA time zone this runtime knows. */
export function checkTimezone(zone: unknown, where: string): string {
  if (typeof zone !== 'string' || zone.length === 0) throw new ConfigError(`${where}: timezone must be an IANA zone name such as 'Europe/London'`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new ConfigError(`${where}: unknown time zone ${JSON.stringify(zone)}`);
  }
  return zone;
}

/** Throws a ConfigError unless `expression` is a valid cron expression (5 fields, or 6 with seconds). */
export function checkExpression(expression: unknown, zone: string, where: string): string {
  if (typeof expression !== 'string' || expression.trim().length === 0) {
    throw new ConfigError(`${where}: expression must be a cron expression such as '0 9 * * MON-FRI'`);
  }
  // cron-parser fills in missing fields from the right ('0 9 * *' would run every minute on the
  // 9th): a typo must be an error, not a schedule that floods the queue.
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new ConfigError(`${where}: cron expression ${JSON.stringify(expression)} has ${fields} fields; use 5 (minute hour day month weekday) or 6 (seconds first)`);
  }
  try {
    CronExpressionParser.parse(expression, { tz: zone }).next();
  } catch (error) {
    throw new ConfigError(`${where}: invalid cron expression ${JSON.stringify(expression)}: ${(error as Error).message}`);
  }
  return expression;
}

/** The first tick strictly after `afterMs` (ms since the epoch). */
export function nextTick(expression: string, zone: string, afterMs: number): number {
  return CronExpressionParser.parse(expression, { tz: zone, currentDate: new Date(afterMs) }).next().toDate().getTime();
}

/** Ticks in (`fromMs`, `toMs`], oldest first, at most `cap` of them (the newest ones kept). */
export function ticksBetween(expression: string, zone: string, fromMs: number, toMs: number, cap = 1000): number[] {
  const it = CronExpressionParser.parse(expression, { tz: zone, currentDate: new Date(fromMs) });
  const out: number[] = [];
  for (;;) {
    const t = it.next().toDate().getTime();
    if (t > toMs) break;
    out.push(t);
    if (out.length > cap) out.shift();
  }
  return out;
}
