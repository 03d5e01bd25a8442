import { Gauge, type Registry } from 'prom-client';
import { CHECK_STATUSES } from './check-result.js';
import type { CheckedDomain } from './reload-risks.js';

/**
 * The self-check's gauges, filled in when Prometheus scrapes: each check's status per domain
 * (0 ok, 1 warn, 2 fail, the order of CHECK_STATUSES) and when each domain was last checked.
 */
export function registerHealthMetrics(registry: Registry, results: () => readonly CheckedDomain[]): void {
  new Gauge({
    name: 'mta_sts_health_check_status',
    help: 'Status of each self-check by domain and check id: 0 ok, 1 warn, 2 fail.',
    labelNames: ['domain', 'check'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { report } of results())
        for (const check of report.checks)
          this.set({ domain: report.domain, check: check.id }, CHECK_STATUSES.indexOf(check.status));
    },
  });
  new Gauge({
    name: 'mta_sts_health_checked_timestamp_seconds',
    help: 'When each domain was last checked by the self-check (Unix time).',
    labelNames: ['domain'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { report, checkedAt } of results()) this.set({ domain: report.domain }, Math.floor(checkedAt.getTime() / 1000));
    },
  });
}
