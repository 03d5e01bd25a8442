import type { DomainCheck } from './domain-check.js';
import type { MxHostResult } from './mx-checks.js';

export interface EnforceReadiness {
  ready: boolean;
  /** What enforce would turn into bounces, one sentence each. */
  blockers: string[];
}

/**
 * Whether a domain in testing can switch to enforce without bouncing mail: every live MX is
 * covered by the policy and has valid STARTTLS (RFC 8461 §4.1, §4.2), and the stored TLS reports
 * show none of the failures enforce turns into bounces (`reportBlockers`, empty without reports).
 */
export function enforceReadiness(check: DomainCheck, reportBlockers: readonly string[]): EnforceReadiness {
  const blockers: string[] = [];
  const covered = check.checks.find((result) => result.id === 'mx_covered');
  const uncovered = (covered?.details.uncovered as string[] | undefined) ?? [];
  for (const host of uncovered) blockers.push(`MX ${host} is in no mx pattern`);
  if (covered?.status === 'fail' && uncovered.length === 0) blockers.push(covered.message);
  const starttls = check.checks.find((result) => result.id === 'mx_starttls');
  const hosts = (starttls?.details.hosts as MxHostResult[] | undefined) ?? [];
  for (const host of hosts) if (host.status === 'fail') blockers.push(`MX ${host.host}: ${host.message}`);
  // No host probed: the MX lookup failed, which mx_covered has already said.
  if (starttls?.status === 'fail' && hosts.length === 0 && covered?.status !== 'fail') blockers.push(starttls.message);
  blockers.push(...reportBlockers.map((blocker) => `TLS reports: ${blocker}`));
  return { ready: blockers.length === 0, blockers };
}
