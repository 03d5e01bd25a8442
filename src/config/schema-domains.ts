import { z } from 'zod';
import { normaliseDomainName } from '../policy/domain-name.js';
import { parseMxPattern, type MxPattern } from '../policy/mx-pattern.js';
import { MAX_AGE_LIMIT, POLICY_MODES, type PolicyMode } from '../policy/policy.js';
import { quote } from '../text/quote.js';
import { mapping, type IssueParams } from './issues.js';
import { list, text } from './schema-values.js';

/** The config's `domains` and `defaults`: each domain's policy (RFC 8461 §3.2) and TLS-RPT address (RFC 8460). */

const mode = z.enum(POLICY_MODES, {
  error: (issue) => `${quote(issue.input)} is not a mode; allowed: ${POLICY_MODES.join(', ')}`,
});

const maxAge = z
  .number({ error: (issue) => `${quote(issue.input)} is not a number of seconds (0 to ${MAX_AGE_LIMIT})` })
  .int({ error: (issue) => `${quote(issue.input)} is not a whole number of seconds` })
  .min(0, { error: (issue) => `${quote(issue.input)} is below 0` })
  // RFC 8461 §3.2: max_age is at most 31557600.
  .max(MAX_AGE_LIMIT, { error: (issue) => `${quote(issue.input)} is above ${MAX_AGE_LIMIT} (one year)` });

const mxPattern = text('a host name such as mail.example.com or *.mail.example.com').transform((value, ctx): MxPattern => {
  const parsed = parseMxPattern(value);
  if (parsed.ok) return parsed.pattern;
  ctx.addIssue({ code: 'custom', message: `${quote(value)} ${parsed.reason}` });
  return z.NEVER;
});

// RFC 8460 §3: rua is a mailto: or https: URI.
const reportUri = text('mailto:address or https:// URL').refine(
  (value) => /^mailto:[^@\s,;!]+@[^@\s,;!]+\.[^@\s,;!]+$/i.test(value) || /^https:\/\/[^\s,;!]+$/i.test(value),
  { error: (issue) => `${quote(issue.input)} is not a report address; allowed: mailto:user@example.com or https://...` },
);

const tlsRpt = mapping({
  rua: z.array(reportUri, { error: 'expected a list of report addresses' }).min(1, { error: 'needs at least one address' }),
});

const domainSettings = mapping({
  mode: mode.optional(),
  mx: list(mxPattern, 'a list of mx host patterns').optional(),
  max_age: maxAge.optional(),
  tlsrpt: tlsRpt.optional(),
});

export const domains = z.record(z.string(), domainSettings.nullable(), {
  error: 'expected a mapping of domain names, e.g. "example.com: { mx: [mail.example.com] }"',
});

export const defaults = mapping({ mode: mode.default('testing'), max_age: maxAge.default(604_800), tlsrpt: tlsRpt.optional() });

type DomainsInput = { defaults?: { mode?: unknown }; domains?: Record<string, { mode?: unknown; mx?: unknown } | null> };

/**
 * Domain names must be valid, unique once normalised, and each policy but `none` needs an mx.
 * It reads the file as written (before the schema's checks), so it runs even when other fields failed.
 */
export function checkDomainNames(raw: DomainsInput, ctx: z.RefinementCtx): void {
  // A list is not a mapping of domain names: the schema reports it, and its indexes are no names to check.
  if (typeof raw?.domains !== 'object' || raw.domains === null || Array.isArray(raw.domains)) return;
  const seen = new Map<string, string>();
  const isMode = (value: unknown): value is PolicyMode => POLICY_MODES.includes(value as PolicyMode);
  const defaultMode = isMode(raw.defaults?.mode) ? raw.defaults.mode : undefined;
  for (const [key, settings] of Object.entries(raw.domains)) {
    const keyIssue = (message: string, params: IssueParams = {}) =>
      ctx.addIssue({ code: 'custom', path: ['domains', key], params: { ...params, at: 'key' }, message, continue: true });
    const name = normaliseDomainName(key);
    if (!name.ok) {
      keyIssue(`domain name ${quote(key)} ${name.reason}`);
      continue;
    }
    const earlier = seen.get(name.name);
    if (earlier !== undefined) {
      keyIssue(`duplicate domain: ${quote(key)} is the same domain as ${quote(earlier)}`);
      continue;
    }
    seen.set(name.name, key);
    const mode = settings?.mode === undefined ? defaultMode : isMode(settings.mode) ? settings.mode : undefined;
    const mx = settings?.mx;
    // RFC 8461 §3.2: every policy but mode "none" names at least one mx pattern.
    if (mode !== undefined && mode !== 'none' && (mx === undefined || (Array.isArray(mx) && mx.length === 0))) {
      const message = `mode ${mode} needs at least one mx pattern (mx: [mail.${name.name}]); only mode none may leave it out`;
      if (mx === undefined) keyIssue(message, { missing: 'mx' });
      else ctx.addIssue({ code: 'custom', path: ['domains', key, 'mx'], message, continue: true });
    }
  }
}
