import { loadConfigOrReport } from './load-config.js';
import { formatZoneLine, recordsToPublish, validateTarget, type PolicyHostTarget } from '../dns/records.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { PolicySet } from '../policy/policy-set.js';

export interface DnsOptions {
  target: PolicyHostTarget;
  domain?: string;
  json: boolean;
}

/** Prints, per domain, the records to publish, as zone-file lines or JSON. */
export async function printDnsRecords(
  path: string,
  options: DnsOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfigOrReport(path, err, validateTarget(options.target));
  if (!loaded) return 2;
  let served = [...new PolicySet(loaded.config.domains).policies];
  const receivers = { smtp: loaded.config.reports.smtp.enabled, https: loaded.config.reports.https.enabled };
  if (options.domain !== undefined) {
    const wanted = normaliseDomainName(options.domain);
    served = served.filter((policy) => wanted.ok && policy.domain === wanted.name);
    if (served.length === 0) {
      err.write(`${options.domain} is not a domain in ${path}\n`);
      return 2;
    }
  }
  if (options.json) {
    const domains = served.map((policy) => ({
      domain: policy.domain,
      policy_id: policy.id,
      mode: policy.policy.mode,
      records: recordsToPublish(policy, options.target, receivers),
    }));
    out.write(`${JSON.stringify({ domains }, null, 2)}\n`);
    return 0;
  }
  for (const policy of served) {
    out.write(`; ${policy.domain}: mode ${policy.policy.mode}, policy id ${policy.id}\n`);
    for (const record of recordsToPublish(policy, options.target, receivers)) {
      out.write(`${formatZoneLine(record)}${record.placeholder ? '   ; or a CNAME to this server' : ''}\n`);
    }
    out.write('\n');
  }
  return 0;
}
