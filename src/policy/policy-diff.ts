import type { PolicySet, ServedPolicy } from './policy-set.js';

export interface DomainChange {
  domain: string;
  mode?: { from: string; to: string };
  max_age?: { from: number; to: number };
  mx_added: string[];
  mx_removed: string[];
  policy_id: string;
}

export interface PolicySetDiff {
  domains_added: string[];
  domains_removed: string[];
  changed: DomainChange[];
  /** `_mta-sts` TXT records to publish: one for every added or changed domain (its id changed). */
  publish: { domain: string; policy_id: string }[];
}

/** What a reload changes, for one summary log line an admin can act on. */
export function diffPolicySets(before: PolicySet, after: PolicySet): PolicySetDiff {
  const diff: PolicySetDiff = { domains_added: [], domains_removed: [], changed: [], publish: [] };
  for (const next of after.changedSince(before)) {
    const previous = before.forHost(next.host);
    if (!previous) {
      diff.domains_added.push(next.domain);
      diff.publish.push({ domain: next.domain, policy_id: next.id });
    } else if (previous.id !== next.id) {
      diff.changed.push(describeChange(previous, next));
      diff.publish.push({ domain: next.domain, policy_id: next.id });
    }
  }
  for (const previous of after.removedSince(before)) diff.domains_removed.push(previous.domain);
  return diff;
}

function describeChange(previous: ServedPolicy, next: ServedPolicy): DomainChange {
  const beforeMx = previous.policy.mx.map((pattern) => pattern.text);
  const afterMx = next.policy.mx.map((pattern) => pattern.text);
  const change: DomainChange = {
    domain: next.domain,
    mx_added: afterMx.filter((mx) => !beforeMx.includes(mx)),
    mx_removed: beforeMx.filter((mx) => !afterMx.includes(mx)),
    policy_id: next.id,
  };
  if (previous.policy.mode !== next.policy.mode) change.mode = { from: previous.policy.mode, to: next.policy.mode };
  if (previous.policy.maxAge !== next.policy.maxAge) change.max_age = { from: previous.policy.maxAge, to: next.policy.maxAge };
  return change;
}

export function isEmptyDiff(diff: PolicySetDiff): boolean {
  return diff.domains_added.length + diff.domains_removed.length + diff.changed.length === 0;
}
