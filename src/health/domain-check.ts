import type { PolicyMode } from '../policy/policy.js';
import type { ServedPolicy } from '../policy/policy-set.js';
import type { CheckEnvironment } from './check-environment.js';
import { CHECK_IDS, worstStatus, type CheckResult, type CheckStatus } from './check-result.js';
import { mapWithLimit } from '../files/concurrency.js';
import { checkMxHosts } from './mx-checks.js';
import { checkPolicyHost } from './policy-host-checks.js';
import { checkStsRecord } from './sts-record-checks.js';
import { checkTlsRpt } from './tlsrpt-check.js';

/** Domains checked at once; each runs its check groups side by side. */
const DOMAIN_CONCURRENCY = 4;

export interface DomainCheck {
  domain: string;
  mode: PolicyMode;
  /** The worst of its checks. */
  status: CheckStatus;
  checks: CheckResult[];
}

/** Every check of one domain, as a sending MTA would see the domain now; in CHECK_IDS order. */
export async function checkDomain(served: ServedPolicy, environment: CheckEnvironment): Promise<DomainCheck> {
  const groups = await Promise.all([
    checkStsRecord(served, environment),
    checkPolicyHost(served, environment),
    checkMxHosts(served, environment),
    checkTlsRpt(served, environment).then((result) => [result]),
  ]);
  const checks = groups.flat().sort((a, b) => CHECK_IDS.indexOf(a.id) - CHECK_IDS.indexOf(b.id));
  return { domain: served.domain, mode: served.policy.mode, status: worstStatus(checks.map((check) => check.status)), checks };
}

export function checkDomains(policies: readonly ServedPolicy[], environment: CheckEnvironment): Promise<DomainCheck[]> {
  return mapWithLimit(policies, DOMAIN_CONCURRENCY, (served) => checkDomain(served, environment));
}
