import { gzipSync } from 'node:zlib';

/**
 * TLS reports in the shapes real senders send (RFC 8460 Appendix B, Microsoft, Mail.ru), with
 * the policy domain, organization, report id and dates a test needs.
 */
export interface ReportShape {
  domain?: string;
  organization?: string;
  reportId?: string;
  /** The UTC day the report covers, YYYY-MM-DD. */
  day?: string;
}

/** RFC 8460 Appendix B's example report, for `domain`. */
export function rfcExampleReport({
  domain = 'company-y.example',
  organization = 'Company-X',
  reportId = '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
  day = '2016-04-01',
}: ReportShape = {}) {
  return {
    'organization-name': organization,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': 'sts-reporting@company-x.example',
    'report-id': reportId,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing', `mx: *.mail.${domain}`, 'max_age: 86400'],
          'policy-domain': domain,
          'mx-host': [`*.mail.${domain}`],
        },
        summary: { 'total-successful-session-count': 5326, 'total-failure-session-count': 303 },
        'failure-details': [
          {
            'result-type': 'certificate-expired',
            'sending-mta-ip': '2001:db8:abcd:0012::1',
            'receiving-mx-hostname': `mx1.mail.${domain}`,
            'failed-session-count': 100,
          },
          {
            'result-type': 'starttls-not-supported',
            'sending-mta-ip': '2001:db8:abcd:0013::1',
            'receiving-mx-hostname': `mx2.mail.${domain}`,
            'receiving-ip': '203.0.113.56',
            'failed-session-count': 200,
            'additional-information': `https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported`,
          },
          {
            'result-type': 'validation-failure',
            'sending-mta-ip': '198.51.100.62',
            'receiving-ip': '203.0.113.58',
            'receiving-mx-hostname': `mx-backup.mail.${domain}`,
            'failed-session-count': 3,
            'failure-error-code': 'X509_V_ERR_PROOF_OF_POSSESSION_MISSING',
          },
        ],
      },
    ],
  };
}

/** Microsoft's shape: no policy-string, no mx-host, only successes. */
export function microsoftReport(
  {
    domain = 'example.com',
    organization = 'Microsoft Corporation',
    reportId = '133890624000000000+example.com',
    day = '2026-11-20',
  }: ReportShape = {},
  successful = 42,
) {
  return {
    'organization-name': organization,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': 'tlsrpt-noreply@microsoft.com',
    'report-id': reportId,
    policies: [
      {
        policy: { 'policy-type': 'sts', 'policy-domain': domain },
        summary: { 'total-successful-session-count': successful, 'total-failure-session-count': 0 },
      },
    ],
  };
}

/** Mail.ru's shape: mx-host as one string, failure details adding up to more than the summary's failures. */
export function mailRuReport({
  domain = 'example.com',
  organization = 'Mail.Ru',
  reportId = 'mailru-2026-11-20',
  day = '2026-11-20',
}: ReportShape = {}) {
  return {
    'organization-name': organization,
    'date-range': { 'start-datetime': `${day}T00:00:00+03:00`, 'end-datetime': `${day}T23:59:59+03:00` },
    'contact-info': 'tlsrpt@corp.mail.ru',
    'report-id': reportId,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing'],
          'policy-domain': domain,
          'mx-host': `mx.${domain}`,
        },
        summary: { 'total-successful-session-count': 10, 'total-failure-session-count': 1 },
        'failure-details': [
          { 'result-type': 'certificate-host-mismatch', 'receiving-mx-hostname': `mx.${domain}`, 'failed-session-count': 2 },
          { 'result-type': 'certificate-host-mismatch', 'receiving-mx-hostname': `mx.${domain}`, 'failed-session-count': 1 },
        ],
      },
    ],
  };
}

export const jsonBody = (report: unknown): Buffer => Buffer.from(JSON.stringify(report));
export const gzipBody = (report: unknown): Buffer => gzipSync(jsonBody(report));

/** An RFC 8460 §5.3 message carrying `report` gzip-compressed, with a text part before it. */
export function reportMessage(
  report: { 'report-id': string; policies: { policy: { 'policy-domain': string } }[] },
  options: { to?: string; json?: boolean } = {},
): Buffer {
  const domain = report.policies[0]?.policy['policy-domain'] ?? 'example.com';
  const body = options.json ? jsonBody(report) : gzipBody(report);
  const type = options.json ? 'application/tlsrpt+json' : 'application/tlsrpt+gzip';
  const filename = `reporter.example!${domain}!1479168000!1479254399!${report['report-id'].replace(/[^\w.-]/g, '_')}.json${options.json ? '' : '.gz'}`;
  const lines = [
    'From: tlsrpt@reporter.example',
    `To: ${options.to ?? `tlsrpt@mta-sts.${domain}`}`,
    `Subject: Report Domain: ${domain} Submitter: reporter.example Report-ID: <${report['report-id']}>`,
    'TLS-Report-Domain: ' + domain,
    'TLS-Report-Submitter: reporter.example',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type="tlsrpt"; boundary="----=_Boundary"',
    '',
    '------=_Boundary',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'This is an aggregate TLS report from reporter.example',
    '',
    '------=_Boundary',
    `Content-Type: ${type}; name="${filename}"`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${filename}"`,
    '',
    ...(body.toString('base64').match(/.{1,76}/g) ?? []),
    '',
    '------=_Boundary--',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}
