import { dnsNameCovers } from '../policy/dns-name.js';
import type { PolicySet, ServedPolicy } from '../policy/policy-set.js';
import type { CheckResult } from './check-result.js';
import type { DomainCheck } from './domain-check.js';
import type { MxHostResult } from './mx-checks.js';

/** A domain's last self-check and when it ran. */
export interface CheckedDomain {
  checkedAt: Date;
  report: DomainCheck;
}

// RFC 8461 §4.1: a sender delivers only to an MX that an `mx` pattern covers.
const covers = (served: ServedPolicy | undefined, host: string) =>
  served !== undefined && served.policy.mx.some((pattern) => dnsNameCovers(pattern.text, host));

const checkOf = (checked: CheckedDomain, id: CheckResult['id']) => checked.report.checks.find((check) => check.id === id);

/** The MX hosts the last check found in DNS (mx_covered's details). */
function liveMx(checked: CheckedDomain): string[] {
  const mx = checkOf(checked, 'mx_covered')?.details['mx'];
  return Array.isArray(mx) ? mx.filter((host): host is string => typeof host === 'string') : [];
}

/** The MX hosts whose STARTTLS failed at the last check (mx_starttls's details). */
function failingStarttls(checked: CheckedDomain): MxHostResult[] {
  const hosts = checkOf(checked, 'mx_starttls')?.details['hosts'];
  return Array.isArray(hosts) ? (hosts as MxHostResult[]).filter((host) => host.status === 'fail') : [];
}

/**
 * What a reload makes worse, judged against the last self-check of each domain: switching to
 * `enforce` while an MX in DNS is in no pattern or failed STARTTLS (mail to it would bounce), and
 * dropping the pattern that covered an MX still in DNS. A domain never checked gives nothing.
 */
export function reloadRisks(
  before: PolicySet,
  after: PolicySet,
  lastCheck: (domain: string) => CheckedDomain | undefined,
): string[] {
  const risks: string[] = [];
  // A policy served as it was adds no risk.
  for (const next of after.changedSince(before)) {
    const checked = lastCheck(next.domain);
    if (checked === undefined || next.policy.mode === 'none') continue;
    const previous = before.forHost(next.host);
    const toEnforce = next.policy.mode === 'enforce' && previous?.policy.mode !== 'enforce';
    const seen = `the last check, ${checked.checkedAt.toISOString()}`;
    for (const host of liveMx(checked)) {
      if (covers(next, host)) continue;
      if (toEnforce) {
        risks.push(
          `${next.domain}: switched to enforce, but ${host} (an MX in DNS at ${seen}) is in no mx pattern: senders that enforce will not deliver to it`,
        );
      } else if (covers(previous, host)) {
        risks.push(
          `${next.domain}: ${host} (an MX in DNS at ${seen}) is in no mx pattern any more; ${next.policy.mode === 'enforce' ? 'senders that enforce will not deliver to it' : 'enforce would bounce mail to it'}`,
        );
      }
    }
    if (!toEnforce) continue;
    for (const host of failingStarttls(checked)) {
      risks.push(
        `${next.domain}: switched to enforce, but ${host.host} failed STARTTLS at ${seen} (${host.message}): senders that enforce will not deliver to it`,
      );
    }
  }
  return risks;
}
