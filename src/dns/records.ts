import { ipFamily } from '../net/ip-family.js';
import type { ServedPolicy } from '../policy/policy-set.js';

/** How `mta-sts.<domain>` reaches this server: addresses, a CNAME target, or unknown yet. */
export interface PolicyHostTarget {
  ipv4?: string;
  ipv6?: string;
  cname?: string;
}

export interface DnsRecord {
  name: string;
  type: 'TXT' | 'A' | 'AAAA' | 'CNAME';
  /** Zone-file form of the value: TXT values quoted, host names fully qualified. */
  value: string;
  /** Set when the value is a placeholder the admin must fill in. */
  placeholder?: boolean;
}

/** RFC 8461 §3.1: the `_mta-sts` TXT record that announces a policy and its id. */
function renderStsTxt(policyId: string): string {
  return `v=STSv1; id=${policyId}`;
}

/** RFC 8460 §3: the `_smtp._tls` TXT record; several rua URIs are separated by commas. */
function renderTlsRptTxt(rua: readonly string[]): string {
  return `v=TLSRPTv1; rua=${rua.join(',')}`;
}

export function stsTxtRecord(domain: string, policyId: string): DnsRecord {
  // RFC 8461 §3.1: the record lives at `_mta-sts.<policy domain>`.
  return { name: `_mta-sts.${domain}.`, type: 'TXT', value: `"${renderStsTxt(policyId)}"` };
}

/** Which of the service's own ways of receiving TLS reports are on (reports.smtp, reports.https). */
export interface ReportReceivers {
  smtp: boolean;
  https: boolean;
}

/**
 * The rua URIs of a domain's `_smtp._tls` record: every mailto: before any https: (Microsoft
 * sends only to the first URI, and only by mail), this server's own receiver before the
 * configured tlsrpt.rua within each scheme.
 */
export function reportAddresses(served: ServedPolicy, receivers: ReportReceivers): string[] {
  const own = [
    ...(receivers.smtp ? [`mailto:tlsrpt@${served.host}`] : []),
    // RFC 8460 §3: reports are POSTed to the https: URI.
    ...(receivers.https ? [`https://${served.host}/tlsrpt`] : []),
  ];
  const all = [...new Set([...own, ...served.tlsRptRua])];
  const isMailto = (uri: string) => uri.toLowerCase().startsWith('mailto:');
  return [...all.filter(isMailto), ...all.filter((uri) => !isMailto(uri))];
}

/** Every record a domain needs, in the order an admin would add them. */
export function recordsToPublish(
  served: ServedPolicy,
  target: PolicyHostTarget,
  receivers: ReportReceivers = { smtp: false, https: false },
): DnsRecord[] {
  const host = `${served.host}.`;
  const records: DnsRecord[] = [];
  if (target.cname)
    records.push({ name: host, type: 'CNAME', value: target.cname.endsWith('.') ? target.cname : `${target.cname}.` });
  if (target.ipv4) records.push({ name: host, type: 'A', value: target.ipv4 });
  if (target.ipv6) records.push({ name: host, type: 'AAAA', value: target.ipv6 });
  if (records.length === 0)
    records.push({ name: host, type: 'A', value: '<public IPv4 address of this server>', placeholder: true });
  records.push(stsTxtRecord(served.domain, served.id));
  // RFC 8460 §3: the TLS reporting record lives at `_smtp._tls.<domain>`.
  const rua = reportAddresses(served, receivers);
  if (rua.length > 0) {
    records.push({ name: `_smtp._tls.${served.domain}.`, type: 'TXT', value: `"${renderTlsRptTxt(rua)}"` });
  }
  return records;
}

export function formatZoneLine(record: DnsRecord): string {
  return `${record.name.padEnd(40)} 3600 IN ${record.type.padEnd(5)} ${record.value}`;
}

export function validateTarget(target: PolicyHostTarget): string[] {
  const problems: string[] = [];
  if (target.ipv4 !== undefined && ipFamily(target.ipv4) !== 4) problems.push(`--ipv4 ${target.ipv4} is not an IPv4 address`);
  if (target.ipv6 !== undefined && ipFamily(target.ipv6) !== 6) problems.push(`--ipv6 ${target.ipv6} is not an IPv6 address`);
  if (target.cname !== undefined && (target.ipv4 !== undefined || target.ipv6 !== undefined)) {
    problems.push('--cname cannot be combined with --ipv4 or --ipv6: a CNAME must be the only record at its name');
  }
  return problems;
}
