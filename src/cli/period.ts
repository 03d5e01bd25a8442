import type { Config } from '../config/schema.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { printable } from '../text/printable.js';
import { daysBefore, utcDay } from '../time/days.js';
import { loadConfigOrReport } from './load-config.js';

/** What `stats` and `reports` work from: the config, the first UTC day of the period, and --domain as a policy domain. */
export interface Period {
  config: Config;
  sinceDay: string;
  domain: string | undefined;
}

/**
 * Reads --since (or `defaultSince`), the config and --domain; undefined once what is wrong is
 * printed on `err` (the command then exits 2).
 */
export async function periodOf(
  path: string,
  options: { since?: string | undefined; domain?: string | undefined },
  defaultSince: string,
  now: Date,
  err: NodeJS.WritableStream,
): Promise<Period | undefined> {
  const since = sinceDay(options.since ?? defaultSince, now);
  if (!since.ok) {
    err.write(`${since.problem}\n`);
    return undefined;
  }
  const loaded = await loadConfigOrReport(path, err);
  if (!loaded) return undefined;
  if (options.domain === undefined) return { config: loaded.config, sinceDay: since.day, domain: undefined };
  const name = normaliseDomainName(options.domain);
  if (!name.ok) {
    err.write(`--domain ${printable(options.domain, 80)} ${name.reason}\n`);
    return undefined;
  }
  return { config: loaded.config, sinceDay: since.day, domain: name.name };
}

/** `--since` of `stats` and `reports`: "7d", "2w" (today and the days before) or a UTC date, YYYY-MM-DD. */
function sinceDay(text: string, now: Date): { ok: true; day: string } | { ok: false; problem: string } {
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
