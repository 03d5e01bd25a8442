import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { PolicyFetch } from '../fetches/fetch-log.js';
import type { FetchSink } from '../fetches/pipeline.js';
import type { ProviderVerdict } from '../fetches/providers.js';
import type { PolicySet } from '../policy/policy-set.js';

/**
 * The service's Prometheus metrics. Counters are bumped on the request path (a label lookup
 * and an add); gauges that describe state (policy ids, certificate expiry) are filled in when
 * Prometheus scrapes, from the state the service already holds.
 */
export class ServiceMetrics implements FetchSink {
  readonly registry = new Registry();
  private readonly fetches: Counter<'domain' | 'provider' | 'status'>;
  private readonly reloads: Counter<'result'>;

  constructor(state: { policies: () => PolicySet; certificateFor: (host: string) => { notAfter: Date } | undefined }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mta_sts_' });
    this.fetches = new Counter({
      name: 'mta_sts_policy_fetches_total',
      help: 'Requests for the policy path, by policy domain ("" for hosts not served), attributed provider and HTTP status.',
      labelNames: ['domain', 'provider', 'status'],
      registers: [this.registry],
    });
    this.reloads = new Counter({
      name: 'mta_sts_config_reloads_total',
      help: 'Config reloads by result: applied (valid), rejected (invalid or unreadable; the last good config stays).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'mta_sts_policy_info',
      help: 'The policy served per domain: 1 with the current policy id and mode as labels.',
      labelNames: ['domain', 'policy_id', 'mode'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const served of state.policies().policies)
          this.set({ domain: served.domain, policy_id: served.id, mode: served.policy.mode }, 1);
      },
    });
    new Gauge({
      name: 'mta_sts_certificate_not_after_seconds',
      help: 'Expiry (Unix time) of the certificate served for each policy host.',
      labelNames: ['host'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const host of state.policies().hosts) {
          const certificate = state.certificateFor(host);
          if (certificate) this.set({ host }, Math.floor(certificate.notAfter.getTime() / 1000));
        }
      },
    });
  }

  /** Label children by `domain provider status`: prom-client hashes a label object on every inc() otherwise. */
  private readonly fetchCounters = new Map<string, { inc(): void }>();

  fetched(fetch: PolicyFetch, verdict: ProviderVerdict): void {
    const domain = fetch.domain ?? '';
    const key = `${domain} ${verdict.provider} ${fetch.status}`;
    let counter = this.fetchCounters.get(key);
    if (!counter) {
      counter = this.fetches.labels({ domain, provider: verdict.provider, status: fetch.status });
      this.fetchCounters.set(key, counter);
    }
    counter.inc();
  }

  reloaded(result: 'applied' | 'rejected'): void {
    this.reloads.inc({ result });
  }
}
