import { ipFamily } from '../net/ip-family.js';
import { z } from 'zod';
import { parseServerAddress } from '../net/server-address.js';
import { quote } from '../text/quote.js';

/**
 * The value types several sections of the config share. Every message here is shown after
 * "file:line:column field.path:", so it says what is allowed.
 */

/** Text, described by `what` when it is missing or not text. */
export const text = (what: string) =>
  z.string({
    error: (issue) =>
      issue.input === undefined ? `is required: ${what}` : `${quote(issue.input)} is not text; expected ${what}`,
  });

export const list = <T extends z.ZodType>(item: T, what: string) =>
  z.array(item, { error: (issue) => `${quote(issue.input)} is not a list; expected ${what}` });

export const onOff = z.boolean({ error: (issue) => `${quote(issue.input)} is not true or false` });

const notAPort = { error: (issue: { input?: unknown }) => `${quote(issue.input)} is not a port number (0 to 65535)` };
export const port = z.number(notAPort).int(notAPort).min(0, notAPort).max(65535, notAPort);

export const ipAddress = text('an IP address such as "::" or "0.0.0.0"').refine((value) => ipFamily(value) !== 0, {
  error: (issue) => `${quote(issue.input)} is not an IP address; use "::" for all IPv6 and IPv4 addresses`,
});

/** A whole number of `what` (milliseconds, days, bytes) from `min` to `max`. */
export const wholeNumber = (what: string, min: number, max: number) => {
  const allowed = `allowed: ${min} to ${max} ${what}`;
  return z
    .number({ error: (issue) => `${quote(issue.input)} is not a number; ${allowed}` })
    .int({ error: (issue) => `${quote(issue.input)} is not a whole number; ${allowed}` })
    .min(min, { error: (issue) => `${quote(issue.input)} is too small; ${allowed}` })
    .max(max, { error: (issue) => `${quote(issue.input)} is too large; ${allowed}` });
};

/** An email address, described by `what` when it is missing or not text. */
export const emailAddress = (what: string) =>
  text(what).regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, {
    error: (issue) => `${quote(issue.input)} is not an email address`,
  });

/** A DNS server to ask: an IP address, optionally with a port (`192.0.2.53`, `127.0.0.1:5353`, `[2001:db8::53]:53`). */
export const dnsServer = text('a DNS server address such as 192.0.2.53 or 127.0.0.1:5353').refine(
  (value) => parseServerAddress(value) !== undefined,
  { error: (issue) => `${quote(issue.input)} is not a DNS server address; write an IP address, optionally with :port` },
);

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "10m", "6h", "7d" in milliseconds; undefined for anything else. */
export function durationMs(text: string): number | undefined {
  const match = /^(\d{1,6})([mhd])$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}

/** A duration from `min` to `max` written as minutes, hours or days ("30m", "6h", "1d"), in milliseconds. */
export const duration = (min: string, max: string) => {
  const allowed = `allowed: ${min} to ${max}, written as minutes, hours or days (30m, 6h, 1d)`;
  return z.string({ error: (issue) => `${quote(issue.input)} is not a duration; ${allowed}` }).transform((value, ctx) => {
    const ms = durationMs(value);
    const problem =
      ms === undefined
        ? 'is not a duration'
        : ms < durationMs(min)!
          ? 'is too short'
          : ms > durationMs(max)!
            ? 'is too long'
            : undefined;
    if (problem === undefined) return ms!;
    ctx.addIssue({ code: 'custom', message: `${quote(value)} ${problem}; ${allowed}` });
    return z.NEVER;
  });
};
