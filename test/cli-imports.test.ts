import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteFetchStatistics } from '../src/storage/sqlite-fetch-statistics.js';
import { issueTestCertificate } from './support/certificates.js';
import { writeTestConfig } from './support/service.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('./support/record-imports.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../config/example.yaml', import.meta.url));

/** What only `serve` needs: the web framework and its parts, ACME, metrics, the log library. */
const SERVE_ONLY = ['fastify', 'helmet', 'acme-client', '@peculiar/x509', 'prom-client', 'pino'];
const SQLITE = 'better-sqlite3';

/**
 * What a CLI run loaded, recorded by a module.register resolve hook and require's cache: the
 * packages by name, and the project's own modules by their path under dist/src.
 */
async function modulesLoadedBy(args: string[], expectedStatus = 0): Promise<{ packages: Set<string>; own: Set<string> }> {
  const record = join(await mkdtemp(join(tmpdir(), 'mta-sts-imports-')), 'loaded.txt');
  const result = spawnSync(process.execPath, ['--import', RECORDER, MAIN, ...args], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, RECORD_IMPORTS_TO: record, MTA_STS_CONFIG: undefined },
  });
  assert.equal(result.status, expectedStatus, `${args.join(' ')}: ${result.stderr}`);
  const loaded = (await readFile(record, 'utf8')).split('\n').filter((line) => line !== '');
  const packages = loaded.flatMap((entry) => {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(entry.slice(entry.lastIndexOf('/node_modules/')));
    return match ? [match[1]!] : [];
  });
  const own = loaded.flatMap((entry) => {
    const match = /\/dist\/(src\/.*)$/.exec(entry);
    return match && !entry.includes('/node_modules/') ? [match[1]!] : [];
  });
  return { packages: new Set(packages), own: new Set(own) };
}

async function packagesLoadedBy(args: string[], expectedStatus = 0): Promise<Set<string>> {
  return (await modulesLoadedBy(args, expectedStatus)).packages;
}

function assertNotLoaded(packages: Set<string>, forbidden: string[], command: string): void {
  const loaded = forbidden.filter((name) => packages.has(name));
  assert.deepEqual(loaded, [], `${command} loaded ${loaded.join(', ')}`);
}

test('check-config, dns, who and --help do not load what only serve needs, nor SQLite', async () => {
  // dns reads the policy history from the state database once there is one; not before.
  const { configPath: noStateYet } = await writeTestConfig('domains:\n  example.com: { mode: none }\nstate_dir: state\n');
  const runs: [string[], number?][] = [
    [['check-config', '--config', EXAMPLE]],
    [['dns', '--config', noStateYet, '--ipv4', '192.0.2.1']],
    [['who']],
    [['--help']],
    [['--version']],
    [[]],
    [['serve', '--help']],
    [['stats', '--help']],
    [['check', '--help']],
    [['help', 'certs']],
    [['providers', '--help']],
    [['stats', '--bogus'], 2],
  ];
  for (const [args, status] of runs) {
    const { packages, own } = await modulesLoadedBy(args, status);
    assertNotLoaded(packages, [...SERVE_ONLY, SQLITE], args.join(' ') || '(no command)');
    if (args.includes('--help') || args.includes('--version') || args.length === 0) assert.deepEqual([...packages], []);
    // The recorder sees the modules of the bundle that npm run build makes (scripts/bundle-cli.mjs):
    // its entry and chunks, and no module of tsc's one file per module beside them.
    assert.ok(own.has('src/cli/main.js'), [...own].join(', '));
    const unbundled = [...own].filter((path) => path !== 'src/cli/main.js' && !path.startsWith('src/cli-chunks/'));
    assert.deepEqual(unbundled, [], `${args.join(' ')} loaded modules outside the bundle`);
  }
});

test('stats loads SQLite, which it reads, and nothing only serve needs', async () => {
  const { dir, configPath } = await writeTestConfig('domains:\n  example.com: { mode: none }\nstate_dir: state\n');
  await SqliteFetchStatistics.open(join(dir, 'state')).close();
  const packages = await packagesLoadedBy(['stats', '--config', configPath]);
  assertNotLoaded(packages, SERVE_ONLY, 'stats');
  assert.ok(packages.has(SQLITE), [...packages].join(', '));
});

test('providers refresh loads neither SQLite nor anything only serve needs', async () => {
  const { configPath } = await writeTestConfig('domains:\n  example.com: { mode: none }\nstate_dir: state\n');
  // Port 9 (discard) has no DNS server: every provider fails at once, exit 1, and the modules are loaded all the same.
  const packages = await packagesLoadedBy(['providers', 'refresh', '--config', configPath, '--resolver', '127.0.0.1:9'], 1);
  assertNotLoaded(packages, [...SERVE_ONLY, SQLITE], 'providers refresh');
});

/**
 * What `serve` loaded by the time it was up: started with the recorder, stopped with SIGTERM once
 * its `service_started` line is out.
 */
async function packagesLoadedByServe(configText: string): Promise<Set<string>> {
  const { dir, configPath } = await writeTestConfig(configText);
  const record = join(dir, 'loaded.txt');
  const child = spawn(process.execPath, ['--import', RECORDER, MAIN, 'serve', '--config', configPath], {
    env: { ...process.env, RECORD_IMPORTS_TO: record, MTA_STS_CONFIG: undefined },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  let output = '';
  for await (const chunk of child.stdout) {
    output += String(chunk);
    if (output.includes('"event":"service_started"')) break;
  }
  child.kill('SIGTERM');
  await exited;
  assert.match(output, /"event":"service_started"/, output);
  const loaded = (await readFile(record, 'utf8')).split('\n');
  return new Set(
    loaded.flatMap(
      (entry) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(entry.slice(entry.lastIndexOf('/node_modules/')))?.[1] ?? [],
    ),
  );
}

/** The packages of parts a deployment may leave off: each is loaded only when the config turns its part on. */
const OPTIONAL_PARTS = [
  'acme-client',
  '@peculiar/x509',
  'prom-client',
  'imapflow',
  'mailparser',
  'smtp-server',
  'better-sqlite3',
];

test('serve loads the packages of the parts its config uses, and no others', async () => {
  const certificate = await issueTestCertificate(await mkdtemp(join(tmpdir(), 'mta-sts-imports-')), ['mta-sts.example.com']);
  const domains = 'domains:\n  example.com: { mode: testing, mx: [mail.example.com] }\n';
  const loopback =
    'listen: { address: 127.0.0.1, https: 0, http: 0 }\nreverse_dns: { enabled: false }\nhealth: { enabled: false }\n';
  const leanParts =
    `${domains}${loopback}admin: { enabled: false }\nstatistics: { enabled: false }\n` +
    `tls: { source: files, certificates: [{ cert: ${certificate.certPath}, key: ${certificate.keyPath} }] }\n`;
  const lean = await packagesLoadedByServe(`${leanParts}retire_removed_domains: false\n`);
  for (const name of ['fastify', 'pino']) assert.ok(lean.has(name), `${name} not seen`);
  assertNotLoaded(lean, OPTIONAL_PARTS, 'serve with certificate files and no admin listener, statistics, reports or retirement');

  // Retiring removed domains (on by default) keeps the policy history in the state database.
  const retiring = await packagesLoadedByServe(leanParts);
  assert.ok(retiring.has('better-sqlite3'), 'better-sqlite3 not seen');
  assertNotLoaded(
    retiring,
    OPTIONAL_PARTS.filter((name) => name !== 'better-sqlite3'),
    'serve with certificate files, retirement and no admin listener, statistics or reports',
  );

  const full = await packagesLoadedByServe(
    `${domains}${loopback}admin: { address: 127.0.0.1, port: 0 }\nstate_dir: state\n` +
      'reports: { smtp: { enabled: true, address: 127.0.0.1, port: 0 } }\n',
  );
  // Self-signed certificates (the X.509 library), metrics, statistics and reports by mail; not ACME or IMAP.
  for (const name of ['@peculiar/x509', 'prom-client', 'smtp-server', 'better-sqlite3'])
    assert.ok(full.has(name), `${name} not seen`);
  assertNotLoaded(full, ['acme-client', 'imapflow'], 'serve without ACME or IMAP');
});
