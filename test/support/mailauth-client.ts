import { fileURLToPath } from 'node:url';

/** mailauth's MTA-STS code, the independent client the tests run against the served policies. */
export const MAILAUTH_MTA_STS = fileURLToPath(new URL('../../../node_modules/mailauth/lib/mta-sts.js', import.meta.url));

/** Runs mailauth's getPolicy for each domain with a resolver that answers from the given zone. */
export const MAILAUTH_CLIENT = `
'use strict';
const { getPolicy } = require(process.argv[2]);
const { zone, domains } = JSON.parse(process.argv[3]);
const resolver = async (name, type) => {
  const answer = zone[type + ' ' + name];
  if (answer) return answer;
  throw Object.assign(new Error('no ' + type + ' record for ' + name), { code: 'ENOTFOUND' });
};
(async () => {
  const results = {};
  for (const domain of domains) {
    const { status, policy } = await getPolicy(domain, null, { strict: true, resolver, timeout: 10000 });
    // The error holds the peer certificate (circular); its code and message are what matter.
    const error = policy.error && { code: policy.error.code, message: policy.error.message };
    results[domain] = { status, policy: { ...policy, error } };
  }
  process.stdout.write(JSON.stringify(results));
})();
`;

export interface DnsJson {
  domains: { domain: string; policy_id: string; records: { name: string; type: string; value: string }[] }[];
}

export interface ClientResult {
  status: string;
  policy: {
    id: string | false;
    mode: string;
    version?: string;
    mx?: string[];
    maxAge?: number;
    expires?: string;
    error?: { code: string; message: string };
  };
}
