import { daysBefore, utcDay } from '../time/days.js';

/** `--since` of `stats` and `reports`: "7d", "2w" (today and the days before) or a UTC date, YYYY-MM-DD. */
export function sinceDay(text: string, now: Date): { ok: true; day: string } | { ok: false; problem: string } {
  const relative = /^(\d{1,4})([dw])$/.exec(text);
  if (relative) {
    const days = Number(relative[1]) * (relative[2] === 'w' ? 7 : 1);
    // Today counts as one of the days: "7d" is today and the six days before.
    if (days >= 1) return { ok: true, day: daysBefore(now, days - 1) };
  }
  // A date that does not exist (2026-02-30) parses to another day or to none.
  const date = new Date(`${text}T00:00:00Z`);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(date.getTime()) && utcDay(date) === text) {
    const today = utcDay(now);
    if (text > today) return { ok: false, problem: `--since ${text} is in the future: today is ${today} (UTC)` };
    return { ok: true, day: text };
  }
  return { ok: false, problem: `--since ${text}: expected a number of days or weeks (7d, 2w) or a UTC date (2026-11-01)` };
}
