/** One day in milliseconds: statistics days, certificate lifetimes and renewal windows count in UTC days. */
export const DAY_MS = 86_400_000;

/** The UTC day of `time`, YYYY-MM-DD. */
export const utcDay = (time: Date): string => time.toISOString().slice(0, 10);

/** The UTC day `days` days before `time`'s. */
export function daysBefore(time: Date, days: number): string {
  return utcDay(new Date(time.getTime() - days * DAY_MS));
}
