// Mutation testing (README, "Mutation testing"): `npm run test:mutation`, or one folder at a time:
//   npm run test:mutation -- --mutate 'src/server/**/*.ts' --incrementalFile reports/incremental-server.json
// Stryker copies the project into reports/.stryker-tmp, mutates the TypeScript of src/ there (all
// mutants compiled in, switched on one at a time by an environment variable), builds it with tsc
// and runs each test file as its own node process; the tap runner reads node:test's TAP output.

/**
 * The hermetic test files that bear on each folder, fastest first. Each mutant reruns, in this
 * order, the files whose run reached it (the tap runner's coverage is per file) until one fails:
 * a mutant a quick file kills costs one process (about 1.5 s here), a survivor costs every file
 * that reached it. So the lists hold the in-process files of a few seconds; left out are the ones
 * that open real sockets or processes for long (config-fuzz 36 s, cli 26 s, admin-exposure 22 s,
 * cli-imports 19 s, reverse-dns-flood 17 s, client-address 12 s, https 9 s, statistics 8.5 s,
 * start-failure 7 s, reload 5 s, who with its service process) and those about other folders
 * (acme-*, certificate-files, tls); who-scale runs the summary fetch-summary pins, at volume. A
 * mutant that only a file left out would kill counts as survived or not covered: the scores are
 * lower bounds (README, "Mutation testing").
 */
const testsByFolder = {
  policy: ['domain-names', 'policy', 'request-target', 'config', 'shipped-configs', 'app', 'policy-changes', 'config-reuse'],
  config: [
    'config-defaults',
    'config-providers-section',
    'health-config',
    'config-sections',
    'config-limits',
    'config-start',
    'yaml-problems',
    'admin-exposure-config',
    'shipped-configs',
    'config',
    'config-reloader',
    'config-reports-section',
    'yaml-reparse',
    'config-reuse',
  ],
  fetches: [
    'fair-queue',
    'fetch-report',
    'spf-ranges',
    'provider-refresher',
    'log-limit-windows',
    'fetch-summary',
    'fetch-pipeline',
    'fetch-statistics-recorder',
    'reverse-dns-lookups',
    'providers',
    'who-escaping',
    'log-limits',
    'app',
    'statistics-address-cap',
    'reverse-dns',
    'providers-refresh',
    'dashboard',
    'dashboard-cli',
  ],
  server: [
    'tls-listener',
    'connection-limits',
    'answer-headers',
    'request-target',
    'listener-answers',
    'tlsrpt-routes',
    'app',
    'listeners',
    'log-limits',
    'metrics',
    'dashboard',
    'client-address',
  ],
};

/**
 * With `--mutate 'src/<folder>/**'` the files of that folder only (the way to iterate); without,
 * all of them, in the order of the folders above.
 */
function testFilesFor(argv) {
  const at = argv.findIndex((arg) => arg === '--mutate' || arg === '-m');
  const mutate = at >= 0 ? (argv[at + 1] ?? '') : '';
  const folder = /^src\/(\w+)\//.exec(mutate)?.[1];
  const names = folder in testsByFolder ? testsByFolder[folder] : [...new Set(Object.values(testsByFolder).flat())];
  return names.map((name) => `dist/test/${name}.test.js`);
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  buildCommand: 'tsc -b tsconfig.json',
  mutate: ['src/policy/**/*.ts', 'src/config/**/*.ts', 'src/fetches/**/*.ts', 'src/server/**/*.ts'],
  tap: {
    testFiles: testFilesFor(process.argv),
    nodeArgs: ['--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  coverageAnalysis: 'perTest',
  // The machine has 2 cores, shared.
  concurrency: 1,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  ignorePatterns: ['/dist', '/reports', '/.local-state', '*.log'],
  tempDirName: 'reports/.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  timeoutMS: 10000,
};
