/** What `npm run bench` was asked for (--quick, --profile, --only) and the targets it reports against. */
import type { CliTiming } from './cli.js';
import type { Timing } from './https.js';
import type { WhoTiming } from './who.js';

/**
 * The issues' targets: service / minimal throughput with the fetch log on; throughput with
 * attribution and statistics on / off; the scale limits (issue 14: 100 000 domains with their
 * certificates on disk start in 5 s within 600 MB, and a one-domain change reloads in 1 s).
 */
export const TARGETS = {
  keepAliveRatio: 0.7,
  newConnectionRatio: 0.95,
  attributionRatio: 0.9,
  // Issue 11: the policy path must not get slower with the TLS report intake on (within the runs' noise).
  tlsRptRatio: 0.95,
  scaleStartMs: 5_000,
  scalePeakRssMb: 600,
  reloadMs: 1_000,
  checkConfigRatio: 3,
} as const;

const SECTIONS = ['https', 'attribution', 'tlsrpt', 'scale', 'classifier', 'cli', 'who', 'logs'] as const;
export type Section = (typeof SECTIONS)[number];

const argv = process.argv.slice(2);
export const flags = new Set(argv);
const only = argv.includes('--only') ? (argv[argv.indexOf('--only') + 1] ?? '').split(',') : [...SECTIONS];
const unknownSections = only.filter((name) => !(SECTIONS as readonly string[]).includes(name));
if (unknownSections.length > 0) {
  process.stderr.write(`--only ${unknownSections.join(',')}: sections are ${SECTIONS.join(', ')}\n`);
  process.exit(2);
}
export const wants = (section: Section) => only.includes(section);

/** `--scale-domains N`: the domain count of the scale section (issue 14's hosting provider: 100 000). */
export const scaleDomains = argv.includes('--scale-domains') ? Number(argv[argv.indexOf('--scale-domains') + 1]) : 100_000;
if (!Number.isInteger(scaleDomains) || scaleDomains < 1) {
  process.stderr.write('--scale-domains takes a positive whole number\n');
  process.exit(2);
}
export const timing: Timing = flags.has('--quick')
  ? { rounds: 1, warmupMs: 500, durationMs: 2_000, connections: 16 }
  : { rounds: 3, warmupMs: 1_000, durationMs: 5_000, connections: 16 };

/**
 * The attribution comparison looks for a difference of a few percent, smaller than the spread
 * between runs on a shared machine: more rounds give its median ratio a steadier footing.
 */
export const attributionTiming: Timing = flags.has('--quick') ? timing : { ...timing, rounds: 5 };

export const cliTiming: CliTiming = flags.has('--quick') ? { rounds: 5, warmups: 1 } : { rounds: 21, warmups: 2 };

export const whoTiming: WhoTiming = flags.has('--quick') ? { lines: 100_000, rounds: 1 } : { lines: 1_000_000, rounds: 3 };

/** Requests per log-flood scenario: the security review's 20 000. */
export const floodRequests = flags.has('--quick') ? 2_000 : 20_000;

export const print = (text: string) => process.stdout.write(`${text}\n`);
