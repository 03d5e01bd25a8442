import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackends } from '../src/storage/backends.js';
import { fetchStatisticsConformance } from './support/fetch-statistics-conformance.js';

fetchStatisticsConformance('SQLite fetch statistics', async () => {
  const backends = openBackends({ stateDir: await mkdtemp(join(tmpdir(), 'mta-sts-statistics-store-')) });
  return { store: await backends.openFetchStatistics('read-write'), reopen: () => backends.openFetchStatistics('read-write') };
});
