import { z } from 'zod';
import { POLICY_TYPES, type ReportFacts } from '../storage/tls-report-store.js';

/**
 * An SMTP TLS report (RFC 8460 §4) as senders really write it: strict where a wrong value would
 * give wrong totals (counts, dates, report id), tolerant where senders differ (Microsoft leaves out
 * policy-string and mx-host; mx-host may be a string or a list; result types beyond the RFC's list
 * are kept). Unknown fields are kept (loose objects), so the stored report stays the sender's.
 */

/** Characters of one name (organization, report id, host) kept: longer values are refused, not cut. */
const MAX_NAME_LENGTH = 1_024;

const name = (what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `is required: ${what}` : `expected text: ${what}`) })
    .min(1, { error: `must not be empty: ${what}` })
    .max(MAX_NAME_LENGTH, { error: `is longer than ${MAX_NAME_LENGTH} characters` });

const optionalName = (what: string) => name(what).optional();

const sessionCount = z
  .number({
    error: (issue) => (issue.input === undefined ? 'is required: a session count' : 'expected a session count (a number)'),
  })
  .int({ error: 'expected a whole number of sessions' })
  .min(0, { error: 'must not be negative' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'is too large' });

// RFC 8460 §4.4: date-time as in RFC 3339 (e.g. 2016-04-01T00:00:00Z).
const dateTime = z
  .string({
    error: (issue) => (issue.input === undefined ? 'is required: an RFC 3339 date-time' : 'expected an RFC 3339 date-time'),
  })
  .regex(/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/, {
    error: 'is not an RFC 3339 date-time such as 2016-04-01T00:00:00Z',
  })
  .refine((value) => !Number.isNaN(Date.parse(value)), { error: 'is not a valid date-time' });

/**
 * RFC 8460 §4.3 result types that enforce would turn into a delivery failure: with a policy in
 * enforce mode, a sender gives up on an MX that fails this way instead of delivering without TLS.
 */
export const ENFORCE_BLOCKING_RESULT_TYPES: readonly string[] = [
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
  'sts-policy-invalid',
  'sts-webpki-invalid',
];

/** Whether a failure of this result type would bounce mail once the policy enforces (any `certificate-*` does). */
export const blocksEnforce = (resultType: string): boolean =>
  resultType.startsWith('certificate-') || ENFORCE_BLOCKING_RESULT_TYPES.includes(resultType);

const policy = z.looseObject({
  'policy-type': z.enum(POLICY_TYPES, { error: `expected one of ${POLICY_TYPES.join(', ')}` }),
  // Microsoft leaves it out; some senders write one string instead of the list.
  'policy-string': z.union([z.array(z.string()), z.string()], { error: 'expected a list of policy lines' }).optional(),
  'policy-domain': name('the policy domain'),
  // RFC 8460 §4.4 defines a list; single strings occur in the wild.
  'mx-host': z.union([z.array(z.string()), z.string()], { error: 'expected a host name or a list of them' }).optional(),
});

const failureDetail = z.looseObject({
  'result-type': name('the result type, e.g. certificate-expired'),
  'sending-mta-ip': optionalName('the sending MTA address'),
  'receiving-mx-hostname': optionalName('the receiving MX host name'),
  'receiving-mx-helo': optionalName('the receiving MX HELO name'),
  'receiving-ip': optionalName('the receiving MX address'),
  'failed-session-count': sessionCount,
  'additional-information': z.string().optional(),
  'failure-reason-code': z.string().optional(),
});

export const tlsReportSchema = z
  .looseObject({
    'organization-name': name('the reporting organization'),
    'date-range': z.looseObject(
      { 'start-datetime': dateTime, 'end-datetime': dateTime },
      { error: 'is required: start-datetime and end-datetime' },
    ),
    // RFC 8460 §4.4 requires it; some senders leave it out, and nothing here depends on it.
    'contact-info': z.string().optional(),
    'report-id': name('the report id'),
    policies: z.array(
      z.looseObject({
        policy: policy,
        // Totals come from the summary; Mail.ru's failure details may add up to more.
        summary: z.looseObject({
          'total-successful-session-count': sessionCount,
          'total-failure-session-count': sessionCount,
        }),
        'failure-details': z.array(failureDetail, { error: 'expected a list of failure details' }).optional(),
      }),
      { error: (issue) => (issue.input === undefined ? 'is required: a list of policies' : 'expected a list of policies') },
    ),
  })
  .refine((report) => Date.parse(report['date-range']['start-datetime']) <= Date.parse(report['date-range']['end-datetime']), {
    error: 'start-datetime is after end-datetime',
    path: ['date-range'],
  });

export type TlsReport = z.output<typeof tlsReportSchema>;
export type TlsReportPolicy = TlsReport['policies'][number];

const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Policy domains and MX names compared as hosts: lower case, without a final dot. */
export const hostName = (value: string): string => value.trim().toLowerCase().replace(/\.$/, '');

export function reportFacts(report: TlsReport): ReportFacts {
  return {
    organization: report['organization-name'],
    reportId: report['report-id'],
    contactInfo: report['contact-info'] ?? null,
    start: new Date(report['date-range']['start-datetime']).toISOString(),
    end: new Date(report['date-range']['end-datetime']).toISOString(),
    policies: report.policies.map((entry) => ({
      policyType: entry.policy['policy-type'],
      policyDomain: hostName(entry.policy['policy-domain']),
      policyString: entry.policy['policy-string'] === undefined ? null : asList(entry.policy['policy-string']).join('\n'),
      mxHosts: asList(entry.policy['mx-host']),
      successfulSessions: entry.summary['total-successful-session-count'],
      failedSessions: entry.summary['total-failure-session-count'],
      failures: (entry['failure-details'] ?? []).map((detail) => ({
        resultType: detail['result-type'],
        sendingMtaIp: detail['sending-mta-ip'] ?? null,
        receivingIp: detail['receiving-ip'] ?? null,
        receivingMxHostname: detail['receiving-mx-hostname'] === undefined ? null : hostName(detail['receiving-mx-hostname']),
        receivingMxHelo: detail['receiving-mx-helo'] ?? null,
        failureReasonCode: detail['failure-reason-code'] ?? stringField(detail, 'failure-error-code'),
        sessions: detail['failed-session-count'],
      })),
    })),
  };
}

const stringField = (object: Record<string, unknown>, key: string): string | null =>
  typeof object[key] === 'string' ? object[key] : null;
