import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from '../src/storage/file-storage.js';
import { StoragePolicyHistory } from '../src/storage/policy-history-store.js';
import { policyHistoryConformance } from './support/policy-history-conformance.js';

policyHistoryConformance('Storage (state directory files)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mta-sts-history-'));
  return { store: new StoragePolicyHistory(new FileStorage(dir)), reopen: () => new StoragePolicyHistory(new FileStorage(dir)) };
});
