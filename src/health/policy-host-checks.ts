import type { ServedPolicy } from '../policy/policy-set.js';
import type { CheckEnvironment } from './check-environment.js';
import { expiryStatus, shown, CERTIFICATE_WARN_DAYS, type CheckResult } from './check-result.js';
import { fetchPolicyStrictly, POLICY_PATH } from './policy-fetch.js';
import { daysLeft } from './tls-peer.js';

/** policy_host_dns, policy_fetch and policy_certificate: the host senders fetch the policy from, as they see it. */
export async function checkPolicyHost(served: ServedPolicy, environment: CheckEnvironment): Promise<CheckResult[]> {
  const answer = await environment.dns.addresses(served.host);
  if (!answer.ok) {
    const why = answer.kind === 'absent' ? `${served.host} has no A or AAAA record` : answer.reason;
    const notFetched = `not fetched: ${why}`;
    return [
      {
        id: 'policy_host_dns',
        status: 'fail',
        message: `${why}: senders cannot fetch the policy`,
        details: { host: served.host },
      },
      { id: 'policy_fetch', status: 'fail', message: notFetched, details: {} },
      { id: 'policy_certificate', status: 'fail', message: notFetched, details: {} },
    ];
  }
  const addresses = answer.values;
  const ours =
    environment.publicAddresses.length === 0 || addresses.some((address) => environment.publicAddresses.includes(address));
  const dns: CheckResult = {
    id: 'policy_host_dns',
    status: ours ? 'ok' : 'warn',
    message: ours
      ? `${served.host} resolves to ${addresses.join(', ')}`
      : `${served.host} resolves to ${addresses.join(', ')}, none of this server's addresses (${environment.publicAddresses.join(', ')})`,
    details: { host: served.host, addresses },
  };
  return [dns, ...(await checkPolicyFetch(served, addresses[0]!, environment))];
}

async function checkPolicyFetch(served: ServedPolicy, address: string, environment: CheckEnvironment): Promise<CheckResult[]> {
  const url = `https://${served.host}${POLICY_PATH}`;
  const fetched = await fetchPolicyStrictly({
    host: served.host,
    address,
    port: environment.httpsPort,
    ca: environment.ca,
    timeoutMs: environment.timeoutMs,
  });
  const expected = served.body;
  const fetch: CheckResult = !fetched.ok
    ? {
        id: 'policy_fetch',
        status: 'fail',
        message: `${url} from ${address}: ${shown(fetched.reason)}`,
        details: { url, address },
      }
    : fetched.body !== expected
      ? {
          id: 'policy_fetch',
          status: 'fail',
          message: `${url} from ${address} is not the policy this service serves (another host answers, or a proxy changes it)`,
          details: { url, address, body: shown(fetched.body), expected },
        }
      : {
          id: 'policy_fetch',
          status: 'ok',
          message: `${url}: mode ${fetched.policy.mode}, the served policy`,
          details: { url, address },
        };
  const certificate = fetched.certificate;
  if (!certificate) {
    return [
      fetch,
      {
        id: 'policy_certificate',
        status: 'fail',
        message: `no certificate seen: ${shown(fetched.ok ? '' : fetched.reason)}`,
        details: {},
      },
    ];
  }
  const days = daysLeft(certificate.notAfter, environment.now());
  const status = expiryStatus(days);
  const expires = new Date(certificate.notAfter).toISOString();
  return [
    fetch,
    {
      id: 'policy_certificate',
      status,
      message:
        status === 'ok'
          ? `${days} days left (until ${expires.slice(0, 10)}), issuer ${shown(certificate.issuer)}`
          : `${days < 0 ? 'expired' : `only ${days} days left`} (until ${expires}): renew it; senders refuse an expired certificate (warned at ${CERTIFICATE_WARN_DAYS} days)`,
      details: { not_after: expires, days_left: days, issuer: shown(certificate.issuer), names: certificate.names.map(shown) },
    },
  ];
}
