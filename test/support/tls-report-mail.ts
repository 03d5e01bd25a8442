import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/**
 * The RFC 8460 Appendix B example report, for `policyDomain` (the RFC's company-y.example is
 * not a domain the tests serve) and with its own report-id, so that each test's report is new.
 */
export function appendixBReport(policyDomain: string, reportId: string = randomUUID()): Record<string, unknown> {
  return {
    'organization-name': 'Company-X',
    'date-range': { 'start-datetime': '2016-04-01T00:00:00Z', 'end-datetime': '2016-04-01T23:59:59Z' },
    'contact-info': 'sts-reporting@company-x.example',
    'report-id': reportId,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing', `mx: *.mail.${policyDomain}`, 'max_age: 86400'],
          'policy-domain': policyDomain,
          'mx-host': `*.mail.${policyDomain}`,
        },
        summary: { 'total-successful-session-count': 5326, 'total-failure-session-count': 303 },
        'failure-details': [
          {
            'result-type': 'certificate-expired',
            'sending-mta-ip': '2001:db8:abcd:0012::1',
            'receiving-mx-hostname': `mx1.mail.${policyDomain}`,
            'failed-session-count': 100,
          },
          {
            'result-type': 'starttls-not-supported',
            'sending-mta-ip': '2001:db8:abcd:0013::1',
            'receiving-mx-hostname': `mx2.mail.${policyDomain}`,
            'receiving-ip': '203.0.113.56',
            'failed-session-count': 200,
            'additional-information': 'https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported',
          },
          {
            'result-type': 'validation-failure',
            'sending-mta-ip': '198.51.100.62',
            'receiving-ip': '203.0.113.58',
            'receiving-mx-hostname': `mx-backup.mail.${policyDomain}`,
            'failed-session-count': 3,
            'failure-reason-code': 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED',
          },
        ],
      },
    ],
  };
}

export interface ReportMailOptions {
  report: Record<string, unknown>;
  /** RFC 8460 §5.3: application/tlsrpt+gzip (the usual) or application/tlsrpt+json. */
  encoding: 'gzip' | 'json';
  from?: string;
  to: string;
}

/**
 * A report as RFC 8460 §5.3 mails it: multipart/report; report-type="tlsrpt", a text part for
 * people and the report as an attachment named `submitter!policy-domain!begin!end!id.json.gz`
 * (the §5.3 name, which senders use). CRLF line ends, base64 in 76-character lines.
 */
export function reportMail({
  report,
  encoding,
  from = 'noreply-smtp-tls-reporting@company-x.example',
  to,
}: ReportMailOptions): string {
  const policyDomain = (report.policies as { policy: { 'policy-domain': string } }[])[0]!.policy['policy-domain'];
  const reportId = String(report['report-id']);
  const range = report['date-range'] as Record<string, string>;
  const [begin, end] = [range['start-datetime']!, range['end-datetime']!].map((time) => Date.parse(time) / 1000);
  const json = Buffer.from(JSON.stringify(report));
  const body = encoding === 'gzip' ? gzipSync(json) : json;
  const name = `company-x.example!${policyDomain}!${begin}!${end}!${reportId}.json${encoding === 'gzip' ? '.gz' : ''}`;
  const boundary = `----=_tlsrpt_${randomUUID()}`;
  return [
    `From: TLS Reporting <${from}>`,
    `To: <${to}>`,
    `Date: ${new Date().toUTCString()}`,
    `Subject: Report Domain: ${policyDomain} Submitter: company-x.example Report-ID: <${reportId}>`,
    `Message-ID: <${randomUUID()}@company-x.example>`,
    `TLS-Report-Domain: ${policyDomain}`,
    'TLS-Report-Submitter: company-x.example',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is an aggregate TLS report from company-x.example for ${policyDomain}.`,
    '',
    `--${boundary}`,
    `Content-Type: application/tlsrpt+${encoding}`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${name}"`,
    '',
    ...(body.toString('base64').match(/.{1,76}/g) ?? []),
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
