import { dnsNameCovers } from '../policy/dns-name.js';
import type { ServedPolicy } from '../policy/policy-set.js';
import type { CheckEnvironment } from './check-environment.js';
import { expiryStatus, shown, worstStatus, type CheckResult, type CheckStatus } from './check-result.js';
import { mapWithLimit } from '../files/concurrency.js';
import { probeStarttls } from './smtp-probe.js';
import { daysLeft } from './tls-peer.js';

/** MX hosts of one domain probed at once. */
const MX_CONCURRENCY = 4;

/** One MX host as mx_starttls saw it. */
export interface MxHostResult {
  host: string;
  status: CheckStatus;
  message: string;
}

/** mx_covered and mx_starttls: the MX hosts in DNS against the policy's patterns, and each one's STARTTLS. */
export async function checkMxHosts(served: ServedPolicy, environment: CheckEnvironment): Promise<[CheckResult, CheckResult]> {
  const { mode } = served.policy;
  if (mode === 'none') {
    const message = 'mode none: senders apply no MX rules';
    return [
      { id: 'mx_covered', status: 'ok', message, details: {} },
      { id: 'mx_starttls', status: 'ok', message, details: {} },
    ];
  }
  const answer = await environment.dns.mx(served.domain);
  // RFC 7505: a single MX of "." (empty once read) says the domain takes no mail.
  const hosts = answer.ok ? [...new Set(answer.values.map((record) => record.exchange))].filter((host) => host !== '') : [];
  if (hosts.length === 0) {
    const why = answer.ok || answer.kind === 'absent' ? `${served.domain} has no MX record` : answer.reason;
    return [
      { id: 'mx_covered', status: 'fail', message: why, details: { mx: [] } },
      { id: 'mx_starttls', status: 'fail', message: `not probed: ${why}`, details: { hosts: [] } },
    ];
  }
  return [coverage(served, hosts), await starttls(hosts, environment)];
}

/**
 * RFC 8461 §4.1: a sender delivers only to MX hosts that match an `mx` pattern of the policy,
 * a wildcard matching exactly one left-most label (dnsNameCovers).
 */
function coverage(served: ServedPolicy, hosts: readonly string[]): CheckResult {
  const patterns = served.policy.mx.map((pattern) => pattern.text);
  const uncovered = hosts.filter((host) => !patterns.some((pattern) => dnsNameCovers(pattern, host)));
  const unused = patterns.filter((pattern) => !hosts.some((host) => dnsNameCovers(pattern, host)));
  const details = { mx: hosts.map(shown), uncovered: uncovered.map(shown), unused_patterns: unused };
  if (uncovered.length > 0) {
    const names = uncovered.map(shown).join(', ');
    const enforce = served.policy.mode === 'enforce';
    return {
      id: 'mx_covered',
      status: enforce ? 'fail' : 'warn',
      message: `${names} ${uncovered.length === 1 ? 'is' : 'are'} in no mx pattern (${patterns.join(', ')}): ${
        enforce ? 'senders that enforce refuse to deliver there' : 'enforce would bounce mail to it'
      }; add ${uncovered.length === 1 ? 'it' : 'them'} to mx`,
      details,
    };
  }
  if (unused.length > 0) {
    return {
      id: 'mx_covered',
      status: 'warn',
      message: `every MX is covered; ${unused.join(', ')} match${unused.length === 1 ? 'es' : ''} no MX`,
      details,
    };
  }
  return { id: 'mx_covered', status: 'ok', message: `${hosts.map(shown).join(', ')}: each in an mx pattern`, details };
}

async function starttls(hosts: readonly string[], environment: CheckEnvironment): Promise<CheckResult> {
  const results = await mapWithLimit(hosts, MX_CONCURRENCY, (host) => probeHost(host, environment));
  const bad = results.filter((result) => result.status !== 'ok');
  return {
    id: 'mx_starttls',
    status: worstStatus(results.map((result) => result.status)),
    message:
      bad.length === 0
        ? `${results.length} of ${results.length} MX hosts: STARTTLS with a valid certificate`
        : `${bad.length} of ${results.length} MX hosts with a problem: ${bad.map((result) => result.host).join(', ')}`,
    details: { hosts: results },
  };
}

/** RFC 8461 §4.2: the MX must offer STARTTLS and present a certificate valid for its name, chained to a trusted root. */
async function probeHost(host: string, environment: CheckEnvironment): Promise<MxHostResult> {
  const name = shown(host);
  const fail = (message: string): MxHostResult => ({ host: name, status: 'fail', message });
  const addresses = await environment.dns.addresses(host);
  if (!addresses.ok) return fail(addresses.kind === 'absent' ? 'no A or AAAA record' : addresses.reason);
  const address = addresses.values[0]!;
  const probe = await probeStarttls({
    host,
    address,
    port: environment.smtpPort,
    ca: environment.ca,
    ehloName: environment.ehloName,
    timeoutMs: environment.timeoutMs,
  });
  if (!probe.ok) {
    const reply = probe.reply === undefined ? '' : ` (${shown(probe.reply.split('\r\n')[0]!)})`;
    return fail(`${address} port ${environment.smtpPort}, ${probe.stage}: ${shown(probe.reason)}${reply}`);
  }
  const { certificate } = probe;
  if (certificate.chainProblem !== undefined) return fail(certificate.chainProblem);
  if (!certificate.nameMatches) {
    return fail(`the certificate is not valid for ${name} (its names: ${certificate.names.map(shown).join(', ') || 'none'})`);
  }
  const days = daysLeft(certificate.notAfter, environment.now());
  const status = expiryStatus(days);
  return {
    host: name,
    status,
    message: `STARTTLS, certificate valid for ${days} more days${status === 'ok' ? '' : ': renew it'}`,
  };
}
