import { loadConfigOrReport } from './load-config.js';
import { formatZoneLine, recordsToPublish, validateTarget, type PolicyHostTarget } from '../dns/records.js';
import { domainEnd, endAdvice, readLifecycle } from '../lifecycle/lifecycle-view.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { PolicySet, type ServedPolicy } from '../policy/policy-set.js';
import { retirementPolicy } from '../policy/retirement.js';

export interface DnsOptions {
  target: PolicyHostTarget;
  domain?: string;
  json: boolean;
  /** "Now", for tests. */
  now?: Date;
}

/**
 * Prints, per domain, the records to publish, as zone-file lines or JSON: the configured domains,
 * then the removed ones still retiring, with when their records can be deleted.
 */
export async function printDnsRecords(
  path: string,
  options: DnsOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfigOrReport(path, err, validateTarget(options.target));
  if (!loaded) return 2;
  const { config } = loaded;
  const now = (options.now ?? new Date()).getTime();
  const lifecycle = await readLifecycle(config, now);
  for (const problem of lifecycle.problems) err.write(`note: ${problem}\n`);
  const retiredNames = new Set(lifecycle.retirements.map((retirement) => retirement.domain));
  let served = [...new PolicySet([...config.domains, ...[...retiredNames].map(retirementPolicy)]).policies];
  const receivers = { smtp: config.reports.smtp.enabled, https: config.reports.https.enabled };
  if (options.domain !== undefined) {
    const wanted = normaliseDomainName(options.domain);
    served = served.filter((policy) => wanted.ok && policy.domain === wanted.name);
    if (served.length === 0) {
      err.write(`${options.domain} is not a domain in ${path}\n`);
      return 2;
    }
  }
  const endOf = (policy: ServedPolicy) => domainEnd(policy, retiredNames, lifecycle);
  if (options.json) {
    const domains = served.map((policy) => {
      const end = endOf(policy);
      return {
        domain: policy.domain,
        policy_id: policy.id,
        mode: policy.policy.mode,
        retired: end.retired,
        delete_after: end.deleteAfter === undefined ? null : new Date(end.deleteAfter).toISOString(),
        records: recordsToPublish(policy, options.target, receivers),
      };
    });
    out.write(`${JSON.stringify({ domains }, null, 2)}\n`);
    return 0;
  }
  for (const policy of served) {
    const end = endOf(policy);
    const state = end.retired ? 'removed from the config, retiring (RFC 8461 §8.3): mode none' : `mode ${policy.policy.mode}`;
    out.write(`; ${policy.domain}: ${state}, policy id ${policy.id}\n`);
    for (const record of recordsToPublish(policy, options.target, receivers)) {
      out.write(`${formatZoneLine(record)}${record.placeholder ? '   ; or a CNAME to this server' : ''}\n`);
    }
    const advice = endAdvice(policy, end, now);
    if (advice) out.write(`; ${advice}\n`);
    out.write('\n');
  }
  return 0;
}
