import type { ServedPolicy } from '../policy/policy-set.js';
import type { CheckEnvironment } from './check-environment.js';
import { shown, type CheckResult } from './check-result.js';

/**
 * RFC 8460 §3: records at `_smtp._tls` that begin with `v=TLSRPTv1` are kept, there must be
 * exactly one, with a `rua` of comma-separated mailto: or https: URIs.
 */
export function readTlsRptRecord(
  values: readonly string[],
): { ok: true; rua: string[]; record: string } | { ok: false; problem: string } {
  const candidates = values.filter((value) => /^v=TLSRPTv1(?:[ \t]*;|$)/.test(value));
  if (candidates.length === 0) return { ok: false, problem: 'no TXT record begins with v=TLSRPTv1' };
  if (candidates.length > 1)
    return { ok: false, problem: `${candidates.length} TXT records begin with v=TLSRPTv1; senders ignore them all` };
  const record = candidates[0]!;
  const rua = record
    .split(';')
    .map((field) => field.trim())
    .find((field) => field.startsWith('rua='));
  if (rua === undefined) return { ok: false, problem: `record ${shown(record)} has no rua` };
  const uris = rua
    .slice(4)
    .split(',')
    .map((uri) => uri.trim());
  const invalid = uris.find((uri) => !isReportUri(uri));
  if (invalid !== undefined)
    return { ok: false, problem: `record ${shown(record)}: ${shown(invalid)} is not a mailto: or https: URI` };
  return { ok: true, rua: uris, record };
}

function isReportUri(uri: string): boolean {
  if (/^mailto:[^@\s,;!]+@[^@\s,;!]+\.[^@\s,;!]+$/i.test(uri)) return true;
  try {
    return /^https:/i.test(uri) && new URL(uri).hostname.includes('.');
  } catch {
    return false;
  }
}

/** tlsrpt_txt: without the record no sender reports failures, so problems go unseen (a warning, not a failure). */
export async function checkTlsRpt(served: ServedPolicy, environment: CheckEnvironment): Promise<CheckResult> {
  const name = `_smtp._tls.${served.domain}`;
  const answer = await environment.dns.txt(name);
  if (!answer.ok && answer.kind !== 'absent')
    return { id: 'tlsrpt_txt', status: 'fail', message: answer.reason, details: { name } };
  const record = answer.ok ? readTlsRptRecord(answer.values) : ({ ok: false, problem: `no TXT record at ${name}` } as const);
  if (record.ok)
    return { id: 'tlsrpt_txt', status: 'ok', message: shown(record.record), details: { name, rua: record.rua.map(shown) } };
  const missing = !answer.ok || !answer.values.some((value) => value.startsWith('v=TLSRPTv1'));
  return {
    id: 'tlsrpt_txt',
    status: missing ? 'warn' : 'fail',
    message: `${record.problem}${missing ? ': no sender reports TLS failures (mta-sts-server dns prints the record)' : ''}`,
    details: { name },
  };
}
