import { ipFamily } from '../net/ip-family.js';
import { z } from 'zod';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { emailAddress, ipAddress, list, onOff, port, text, wholeNumber } from './schema-values.js';

/** The config's `reports`: TLS reports (RFC 8460) received by the service itself: SMTP, HTTPS POST, an IMAP mailbox. */

// RFC 1123 §2.1: letters, digits and hyphens, labels of 1 to 63 characters not starting or ending with a hyphen.
const HOST_NAME = /^(?=.{1,253}\.?$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const hostOrAddress = text('a host name or IP address')
  .min(1, { error: 'must not be empty' })
  .refine((value) => value === '' || ipFamily(value) !== 0 || HOST_NAME.test(value), {
    error: (issue) => `${quote(issue.input)} is not a host name or IP address`,
  });
const mailbox = text('an IMAP mailbox name such as INBOX').min(1, { error: 'must not be empty' });

export const reports = mapping({
  // The built-in SMTP receiver for rua=mailto:tlsrpt@mta-sts.<domain>.
  smtp: mapping({
    enabled: onOff.default(false),
    address: ipAddress.default('::'),
    port: port.default(25),
    max_message_bytes: wholeNumber('bytes', 1_024, 1_073_741_824).default(10_485_760),
    // Recipients accepted beside tlsrpt@mta-sts.<domain> of each configured domain.
    recipients: list(emailAddress('an email address'), 'a list of email addresses').default([]),
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

/** Whether any way of receiving TLS reports is on; with none, the service opens no report store. */
export const receivesReports = (settings: z.output<typeof reports>): boolean =>
  settings.https.enabled || settings.smtp.enabled || settings.imap.enabled;
