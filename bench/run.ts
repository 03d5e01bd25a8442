/**
 * `npm run bench`: the policy over HTTPS, the real service against a minimal node:https server,
 * keep-alive and one new TLS connection per request; then the service with provider attribution
 * and fetch statistics on against off; then a 100 000-domain config (start-up, hot reload under
 * load, RSS); then the provider classifier's lookup cost; then the CLI's start-up against
 * `node -e 0`; then `who` on a recorded log of 1 M lines against reading and parsing it; then how
 * much log one client can make the service write. A report, not a test: it exits 0 whatever the
 * numbers, and non-zero only when something crashed.
 *
 * Flags: --quick (one short round, for trying changes), --profile (adds CPU profiles of both
 * servers under each kind of load, compared by self time per request), --only SECTION[,SECTION]
 * (https, attribution, tlsrpt, scale, classifier, cli, who, logs; `npm run bench -- --only who`)
 * and --scale-domains N (the scale section's domain count, 100 000 by default).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllChildren } from './children.js';
import { prepareFixture } from './https.js';
import { heading } from './report.js';
import { attributionSection, httpsSection, profileSection, tlsRptSection } from './https-sections.js';
import { flags, print, TARGETS, timing, wants } from './options.js';
import { classifierSection, cliSection, logsSection, scaleSection, whoSection } from './other-sections.js';

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mta-sts-bench-'));
  const cleanUp = () => {
    killAllChildren();
    return rm(work, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
  }
  try {
    print(`mta-sts-server bench: Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
    print(
      `Each server runs in its own process (one event loop, so about one core's worth); the load generator is another ` +
        `process on the same machine, so with ${availableParallelism()} CPUs the client competes with the server for CPU.`,
    );
    const profiling = flags.has('--profile');
    const fixture =
      wants('https') || wants('attribution') || wants('tlsrpt') || wants('logs') || profiling
        ? await prepareFixture(work)
        : undefined;
    const https = wants('https') ? await httpsSection(fixture!) : undefined;
    const attribution = wants('attribution') ? await attributionSection(fixture!, work) : undefined;
    const tlsrpt = wants('tlsrpt') ? await tlsRptSection(fixture!, work) : undefined;
    const profiles = profiling ? await profileSection(fixture!) : undefined;
    const scale = wants('scale') ? await scaleSection(work) : undefined;
    const classifier = wants('classifier') ? await classifierSection() : undefined;
    const cli = wants('cli') ? await cliSection(work) : undefined;
    const who = wants('who') ? await whoSection(work) : undefined;
    const logs = wants('logs') ? await logsSection(fixture!, work) : undefined;
    print(heading('JSON summary'));
    print(JSON.stringify({ timing, targets: TARGETS, https, attribution, tlsrpt, profiles, scale, classifier, cli, who, logs }));
  } finally {
    await cleanUp();
  }
}

await main();
