import { isIP } from 'node:net';
import { asCidr, parseCidr } from '../net/ip-ranges.js';
import { z } from 'zod';
import { normaliseDomainName } from '../policy/domain-name.js';
import { parseMxPattern, type MxPattern } from '../policy/mx-pattern.js';
import { MAX_AGE_LIMIT, POLICY_MODES, type DomainPolicy, type PolicyMode } from '../policy/policy.js';
import { healthSchema } from './health-schema.js';
import { mapping, type IssueParams } from './issues.js';
import { quote } from '../text/quote.js';

/**
 * The config file's shape. Its key names are the interface users and docs rely on; every
 * message here is shown after "file:line:column field.path:", so it says what is allowed.
 */

const mode = z.enum(POLICY_MODES, {
  error: (issue) => `${quote(issue.input)} is not a mode; allowed: ${POLICY_MODES.join(', ')}`,
});

const maxAge = z
  .number({ error: (issue) => `${quote(issue.input)} is not a number of seconds (0 to ${MAX_AGE_LIMIT})` })
  .int({ error: (issue) => `${quote(issue.input)} is not a whole number of seconds` })
  .min(0, { error: (issue) => `${quote(issue.input)} is below 0` })
  // RFC 8461 §3.2: max_age is at most 31557600.
  .max(MAX_AGE_LIMIT, { error: (issue) => `${quote(issue.input)} is above ${MAX_AGE_LIMIT} (one year)` });

const text = (what: string) =>
  z.string({
    error: (issue) =>
      issue.input === undefined ? `is required: ${what}` : `${quote(issue.input)} is not text; expected ${what}`,
  });

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

const list = <T extends z.ZodType>(item: T, what: string) =>
  z.array(item, { error: (issue) => `${quote(issue.input)} is not a list; expected ${what}` });

const domainSettings = mapping({
  mode: mode.optional(),
  mx: list(mxPattern, 'a list of mx host patterns').optional(),
  max_age: maxAge.optional(),
  tlsrpt: tlsRpt.optional(),
});

const defaults = mapping({ mode: mode.default('testing'), max_age: maxAge.default(604_800), tlsrpt: tlsRpt.optional() });

const notAPort = { error: (issue: { input?: unknown }) => `${quote(issue.input)} is not a port number (0 to 65535)` };
const port = z.number(notAPort).int(notAPort).min(0, notAPort).max(65535, notAPort);

const ipAddress = text('an IP address such as "::" or "0.0.0.0"').refine((value) => isIP(value) !== 0, {
  error: (issue) => `${quote(issue.input)} is not an IP address; use "::" for all IPv6 and IPv4 addresses`,
});

const listen = mapping({ address: ipAddress.default('::'), https: port.default(443), http: port.default(80) });

const certificateFiles = mapping({
  cert: text('the path of a PEM certificate chain'),
  key: text('the path of a PEM private key'),
});

/** CA names users may write instead of a directory URL (the URLs live with the ACME issuer). */
const ACME_CA_NAMES = ['letsencrypt', 'letsencrypt-staging', 'zerossl', 'google'] as const;
const ACME_CHALLENGES = ['http-01', 'tls-alpn-01'] as const;

const acmeDirectory = text(`a CA name (${ACME_CA_NAMES.join(', ')}) or a directory URL`).refine(
  (value) => (ACME_CA_NAMES as readonly string[]).includes(value) || /^https:\/\/[^\s]+$/.test(value),
  { error: (issue) => `${quote(issue.input)} is not a CA; allowed: ${ACME_CA_NAMES.join(', ')} or an https:// directory URL` },
);

const acmeSettings = mapping({
  directory: acmeDirectory.default('letsencrypt'),
  email: text('the contact address the CA writes to about expiring certificates').regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, {
    error: (issue) => `${quote(issue.input)} is not an email address`,
  }),
  accept_terms: z.literal(true, {
    error: "must be true: certificates are only issued once you accept the CA's terms of service (see the CA's website)",
  }),
  ca_bundle: text('the path of a PEM file with CA certificates to trust for the ACME endpoint').optional(),
  eab: mapping({
    kid: text('the key identifier the CA gave you'),
    hmac_key: text('the base64url HMAC key the CA gave you'),
  }).optional(),
  challenge: z
    .enum(ACME_CHALLENGES, {
      error: (issue) => `${quote(issue.input)} is not a challenge type; allowed: ${ACME_CHALLENGES.join(', ')}`,
    })
    .default('http-01'),
  profile: text('an ACME profile name offered by the CA, such as shortlived').optional(),
  renew_when_remaining: z
    .number({ error: (issue) => `${quote(issue.input)} is not a fraction of the certificate lifetime (0.05 to 0.9)` })
    .min(0.05, { error: (issue) => `${quote(issue.input)} is below 0.05 of the certificate lifetime` })
    .max(0.9, { error: (issue) => `${quote(issue.input)} is above 0.9 of the certificate lifetime` })
    .default(1 / 3),
});

const TLS_SOURCES = ['self-signed', 'files', 'acme'] as const;
const tls = z.discriminatedUnion(
  'source',
  [
    mapping({ source: z.literal('self-signed') }),
    mapping({
      source: z.literal('files'),
      certificates: list(certificateFiles, 'a list of {cert, key} pairs').min(1, {
        error: 'needs at least one {cert, key} pair',
      }),
    }),
    mapping({ source: z.literal('acme'), acme: acmeSettings }),
  ],
  {
    error: (issue) => {
      const allowed = TLS_SOURCES.join(', ');
      if (issue.code !== 'invalid_union' || !issue.input || typeof issue.input !== 'object') {
        return `${quote(issue.input)} is not a mapping; expected one with source (${allowed})`;
      }
      const { source } = issue.input as { source?: unknown };
      return source === undefined
        ? `is required; allowed: ${allowed}`
        : `source ${quote(source)} is not supported; allowed: ${allowed}`;
    },
  },
);

const cidr = text('an IP address or CIDR range').refine(
  (value) => {
    try {
      parseCidr(asCidr(value));
      return true;
    } catch {
      return false;
    }
  },
  {
    error: (issue) =>
      `${quote(issue.input)} is not an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8 (no host bits after the prefix)`,
  },
);

/** The admin listener's bearer token: the same rules for admin.token and for MTA_STS_ADMIN_TOKEN. */
export const adminToken = text('a bearer token of at least 16 characters (or set MTA_STS_ADMIN_TOKEN)').min(16, {
  error: 'must be at least 16 characters',
});

const admin = mapping({
  enabled: z.boolean({ error: (issue) => `${quote(issue.input)} is not true or false` }).default(true),
  address: ipAddress.default('127.0.0.1'),
  port: port.default(9464),
  token: adminToken.optional(),
});

const dnsServer = text('a DNS server address such as 192.0.2.53 or 127.0.0.1:5353').refine(
  (value) => isIP(value) !== 0 || isIP(value.replace(/^\[(.*)\]:\d+$/, '$1').replace(/^([^:]+):\d+$/, '$1')) !== 0,
  { error: (issue) => `${quote(issue.input)} is not a DNS server address; write an IP address, optionally with :port` },
);

const wholeNumber = (what: string, min: number, max: number) => {
  const allowed = `allowed: ${min} to ${max} ${what}`;
  return z
    .number({ error: (issue) => `${quote(issue.input)} is not a number; ${allowed}` })
    .int({ error: (issue) => `${quote(issue.input)} is not a whole number; ${allowed}` })
    .min(min, { error: (issue) => `${quote(issue.input)} is too small; ${allowed}` })
    .max(max, { error: (issue) => `${quote(issue.input)} is too large; ${allowed}` });
};

const reverseDns = mapping({
  enabled: z.boolean({ error: (issue) => `${quote(issue.input)} is not true or false` }).default(true),
  servers: list(dnsServer, 'a list of DNS server addresses').default([]),
  timeout_ms: wholeNumber('milliseconds', 100, 30_000).default(2_000),
});

const statistics = mapping({
  enabled: z.boolean({ error: (issue) => `${quote(issue.input)} is not true or false` }).default(true),
  retention_days: wholeNumber('days', 1, 3660).default(400),
  flush_interval_s: wholeNumber('seconds', 1, 300).default(10),
});

const onOff = z.boolean({ error: (issue) => `${quote(issue.input)} is not true or false` });
const hostOrAddress = text('a host name or IP address').min(1, { error: 'must not be empty' });
const mailbox = text('an IMAP mailbox name such as INBOX').min(1, { error: 'must not be empty' });
const emailAddress = text('an email address').regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, {
  error: (issue) => `${quote(issue.input)} is not an email address`,
});

/** TLS reports (RFC 8460) received by the service itself: SMTP, HTTPS POST, an IMAP mailbox. */
const reports = mapping({
  // The built-in SMTP receiver for rua=mailto:tlsrpt@mta-sts.<domain>.
  smtp: mapping({
    enabled: onOff.default(false),
    address: ipAddress.default('::'),
    port: port.default(25),
    max_message_bytes: wholeNumber('bytes', 1_024, 1_073_741_824).default(10_485_760),
    // Recipients accepted beside tlsrpt@mta-sts.<domain> of each configured domain.
    recipients: list(emailAddress, 'a list of email addresses').default([]),
  }).default({ enabled: false, address: '::', port: 25, max_message_bytes: 10_485_760, recipients: [] }),
  // RFC 8460 §3: POST https://mta-sts.<domain>/tlsrpt on the policy listener.
  https: mapping({
    enabled: onOff.default(false),
    max_body_bytes: wholeNumber('bytes', 1_024, 1_073_741_824).default(1_048_576),
  }).default({ enabled: false, max_body_bytes: 1_048_576 }),
  // A mailbox the rua already points at; its password comes from MTA_STS_IMAP_PASSWORD.
  imap: mapping({
    enabled: onOff.default(false),
    host: hostOrAddress.optional(),
    port: port.default(993),
    user: text('the IMAP user name').min(1, { error: 'must not be empty' }).optional(),
    mailbox: mailbox.default('INBOX'),
    done_mailbox: mailbox.default('TLSRPT-done'),
  })
    .superRefine((imap, ctx) => {
      const needed = { host: "the IMAP server's host name", user: 'the IMAP user name' } as const;
      for (const key of ['host', 'user'] as const) {
        if (imap.enabled && imap[key] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [],
            params: { at: 'key', missing: key },
            message: `needs ${key} when enabled: ${needed[key]}`,
          });
        }
      }
    })
    .default({ enabled: false, port: 993, mailbox: 'INBOX', done_mailbox: 'TLSRPT-done' }),
  // The largest report accepted once inflated; a gzip bomb stops here.
  max_report_bytes: wholeNumber('bytes', 1_024, 1_073_741_824).default(20_971_520),
  retention_days: wholeNumber('days', 1, 3660).default(400),
});

export const REPORTS_DEFAULTS = reports.parse({});

/** Whether any way of receiving TLS reports is on; with none, the service opens no report store. */
export const receivesReports = (settings: z.output<typeof reports>): boolean =>
  settings.https.enabled || settings.smtp.enabled || settings.imap.enabled;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const log = mapping({
  level: z
    .enum(LOG_LEVELS, { error: (issue) => `${quote(issue.input)} is not a log level; allowed: ${LOG_LEVELS.join(', ')}` })
    .default('info'),
});

export const configSchema = mapping({
  defaults: defaults.default({ mode: 'testing', max_age: 604_800 }),
  domains: z.record(z.string(), domainSettings.nullable(), {
    error: 'expected a mapping of domain names, e.g. "example.com: { mx: [mail.example.com] }"',
  }),
  listen: listen.default({ address: '::', https: 443, http: 80 }),
  tls: tls.default({ source: 'self-signed' }),
  state_dir: text('a directory path').min(1, { error: 'must not be empty' }).default('/var/lib/mta-sts'),
  trust_proxy: list(cidr, 'a list of addresses or CIDR ranges').default([]),
  log: log.default({ level: 'info' }),
  // The admin listener: Prometheus metrics on loopback unless told otherwise.
  admin: admin.default({ enabled: true, address: '127.0.0.1', port: 9464 }),
  // Your own providers, in the format of config/providers.yaml: same ids replace shipped entries, new ids are added.
  providers_file: text('the path of a YAML file of providers (format of config/providers.yaml)').optional(),
  // Reverse DNS of fetching addresses, to confirm who fetched (the system's resolvers unless servers are given).
  reverse_dns: reverseDns.default({ enabled: true, servers: [], timeout_ms: 2_000 }),
  // Fetch counts per domain, provider and day in the state directory (`mta-sts-server stats`).
  statistics: statistics.default({ enabled: true, retention_days: 400, flush_interval_s: 10 }),
  // TLS reports (RFC 8460) received and kept in the state directory (`mta-sts-server reports`).
  reports: reports.default(() => REPORTS_DEFAULTS),
  // RFC 8461 §8.3: a domain removed from the config is served as mode none until senders' caches expire.
  retire_removed_domains: onOff.default(true),
  // Checks of each domain from the outside: DNS records, the policy host, the MX hosts (`mta-sts-server check`).
  health: healthSchema,
})
  // Runs even when other fields failed, so that every problem in the file is reported at once.
  .superRefine(checkDomainNames, { when: () => true })
  .transform((raw) => ({
    domains: Object.entries(raw.domains).map(([key, settings]): DomainPolicy => ({
      name: (normaliseDomainName(key) as { name: string }).name,
      policy: {
        mode: settings?.mode ?? raw.defaults.mode,
        mx: settings?.mx ?? [],
        maxAge: settings?.max_age ?? raw.defaults.max_age,
      },
      tlsRptRua: settings?.tlsrpt?.rua ?? raw.defaults.tlsrpt?.rua ?? [],
    })),
    listen: raw.listen,
    tls: raw.tls,
    stateDir: raw.state_dir,
    trustProxy: raw.trust_proxy,
    logLevel: raw.log.level,
    admin: raw.admin,
    reverseDns: raw.reverse_dns,
    statistics: raw.statistics,
    reports: raw.reports,
    providersFile: raw.providers_file,
    retireRemovedDomains: raw.retire_removed_domains,
    health: raw.health,
  }));

type DomainsInput = { defaults?: { mode?: unknown }; domains?: Record<string, { mode?: unknown; mx?: unknown } | null> };

/** Domain names must be valid, unique once normalised, and each policy but `none` needs an mx. */
function checkDomainNames(raw: DomainsInput, ctx: z.RefinementCtx): void {
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

export type Config = z.output<typeof configSchema>;
export type TlsSettings = Config['tls'];
