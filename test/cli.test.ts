import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, realpath } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { cliInProcess as cli, cliProcess, type CliInput } from './support/cli.js';
import { serveProcess } from './support/json-log-process.js';
import { LOOPBACK_LISTEN, writeTestConfig } from './support/service.js';

const EXAMPLE = fileURLToPath(new URL('../../config/example.yaml', import.meta.url));
const PROJECT = fileURLToPath(new URL('../../', import.meta.url));

// The command lines run in this process, through the dispatcher main.js runs (src/cli/run.ts);
// the first test proves that the process says and exits exactly as the dispatcher does.

test('the mta-sts-server process: exit status, stdout and stderr exactly as the dispatcher gives them', async () => {
  const { configPath } = await writeTestConfig('domains:\n  example.com: { mode: enforced }\n');
  const fetchLine = JSON.stringify({ event: 'policy_fetch', time: '2026-11-28T10:01:00.000Z', domain: 'example.com' });
  const runs: { args: string[]; input?: CliInput; code: number }[] = [
    { args: [], code: 0 },
    // The config from the environment; its problems on stderr.
    { args: ['check-config'], input: { env: { MTA_STS_CONFIG: configPath } }, code: 2 },
    { args: ['stats', '--bogus'], code: 2 },
    { args: ['dns', '--config', EXAMPLE, '--json'], code: 0 },
    // A log on stdin.
    { args: ['who'], input: { stdin: `${fetchLine}\n` }, code: 0 },
  ];
  for (const { args, input, code } of runs) {
    const inProcess = await cli(args, input);
    assert.equal(inProcess.code, code, args.join(' '));
    assert.deepEqual(await cliProcess(args, input), inProcess, args.join(' '));
  }
});

test('a command that fails in a way it did not foresee: one line on stderr, exit 1, no stack trace', async () => {
  const stdin = new Readable({
    read() {
      this.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    },
  });
  assert.deepEqual(await cli(['who'], { stdin }), { code: 1, stdout: '', stderr: 'mta-sts-server: EIO: i/o error, read\n' });
});

test('check-config: exit 0 for a usable file, 2 with every located problem otherwise', async () => {
  assert.deepEqual(await cli(['check-config', '--config', EXAMPLE]), {
    code: 0,
    stdout: `${EXAMPLE}: ok, 3 domains\n`,
    stderr: '',
  });
  const { configPath } = await writeTestConfig('domains:\n  example.com:\n    mode: enforced\n    nmx: [a.example.com]\n');
  assert.deepEqual(await cli(['check-config'], { env: { MTA_STS_CONFIG: configPath } }), {
    code: 2,
    stdout: '',
    stderr:
      `${configPath}:2:3 domains.example.com: mode enforce needs at least one mx pattern (mx: [mail.example.com]); only mode none may leave it out\n`.replace(
        /.*\n/,
        '',
      ) +
      `${configPath}:3:11 domains.example.com.mode: "enforced" is not a mode; allowed: enforce, testing, none\n` +
      `${configPath}:4:5 domains.example.com.nmx: unknown key; did you mean mx?\n` +
      `${configPath}: 2 problems; nothing was changed\n`,
  });
  const missing = await cli(['check-config', '--config', '/nonexistent/mta-sts.yaml']);
  assert.deepEqual(missing, {
    code: 2,
    stdout: '',
    stderr:
      '/nonexistent/mta-sts.yaml: cannot read the config file: no such file\n/nonexistent/mta-sts.yaml: 1 problem; nothing was changed\n',
  });
  const files = await writeTestConfig(
    'domains: { example.com: { mode: none } }\ntls: { source: files, certificates: [{ cert: live/cert.pem, key: live/key.pem }] }\n',
  );
  const noCertificate = await cli(['check-config', '--config', files.configPath]);
  assert.equal(noCertificate.code, 2);
  assert.equal(noCertificate.stderr, `${files.dir}/live/cert.pem: cannot read: no such file\n`);
});

test('dns: the records to publish, as zone lines or JSON', async () => {
  const text = await cli(['dns', '--config', EXAMPLE, '--domain', 'example.com', '--ipv4', '192.0.2.1']);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.match(lines[0]!, /^; example\.com: mode enforce, policy id [0-9a-f]{24}$/);
  const id = lines[0]!.split(' ').at(-1);
  assert.deepEqual(lines.slice(1), [
    'mta-sts.example.com.                     3600 IN A     192.0.2.1',
    `_mta-sts.example.com.                    3600 IN TXT   "v=STSv1; id=${id}"`,
    '',
    '',
  ]);
  const json = await cli(['dns', '--config', EXAMPLE, '--json']);
  const parsed = JSON.parse(json.stdout) as { domains: { domain: string; records: { type: string; placeholder?: boolean }[] }[] };
  assert.deepEqual(
    parsed.domains.map((domain) => domain.domain),
    ['example.com', 'example.org', 'example.net'],
  );
  assert.equal(parsed.domains[0]!.records[0]!.placeholder, true);
  assert.deepEqual(await cli(['dns', '--config', EXAMPLE, '--ipv4', '2001:db8::1']), {
    code: 2,
    stdout: '',
    stderr: '--ipv4 2001:db8::1 is not an IPv4 address\n',
  });
  assert.deepEqual(await cli(['dns', '--config', EXAMPLE, '--domain', 'other.example']), {
    code: 2,
    stdout: '',
    stderr: `other.example is not a domain in ${EXAMPLE}\n`,
  });
});

/** Each command's options, as its --help lists them. */
const COMMAND_OPTIONS: Record<string, string[]> = {
  serve: ['config', 'help'],
  'check-config': ['config', 'help'],
  dns: ['ipv4', 'ipv6', 'cname', 'domain', 'json', 'config', 'help'],
  check: ['domain', 'json', 'resolver', 'ca-file', 'smtp-port', 'https-port', 'timeout', 'config', 'help'],
  certs: ['json', 'config', 'help'],
  stats: ['since', 'domain', 'json', 'config', 'help'],
  reports: ['since', 'domain', 'json', 'rejected', 'config', 'help'],
  providers: ['json', 'resolver', 'config', 'help'],
  who: ['domain', 'help'],
};
/** Arguments a command takes after its options, as its usage line shows them. */
const COMMAND_ARGUMENTS: Record<string, string> = { reports: ' [import FILE|DIR...]', providers: ' refresh' };

test('no command prints the general usage, as --help and help do; it does not try to serve', async () => {
  const general = await cli([]);
  assert.equal(general.code, 0);
  assert.equal(general.stderr, '');
  assert.match(general.stdout, /^usage: mta-sts-server COMMAND \[options\]\n\ncommands:\n/);
  const listed = [...general.stdout.matchAll(/^ {2}([a-z-]+) {3,}\S/gm)].map((match) => match[1]);
  assert.deepEqual(listed, Object.keys(COMMAND_OPTIONS));
  assert.deepEqual(await cli(['--help']), general);
  assert.deepEqual(await cli(['-h']), general);
  assert.deepEqual(await cli(['help']), general);
  assert.match((await cli(['--version'])).stdout, /^mta-sts-server \d+\.\d+\.\d+\n$/);
});

test("--help, -h and help COMMAND: the command's usage with only its own options", async () => {
  for (const [command, options] of Object.entries(COMMAND_OPTIONS)) {
    const help = await cli([command, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stderr, '');
    assert.ok(
      help.stdout.startsWith(`usage: mta-sts-server ${command} [options]${COMMAND_ARGUMENTS[command] ?? ''}\n`),
      help.stdout,
    );
    const listed = [...help.stdout.matchAll(/^ {2}(?:-\w, | {4})--([a-z0-9-]+)/gm)].map((match) => match[1]);
    assert.deepEqual(listed, options, command);
    assert.deepEqual(await cli([command, '-h']), help);
    assert.deepEqual(await cli(['help', command]), help);
    // --help wins over a mistake next to it: it is how one finds out what the mistake was.
    assert.deepEqual(await cli([command, '--bogus', '--help']), help);
  }
});

test('unknown commands and options: one line naming the command and its --help, exit 2', async () => {
  const refused = async (args: string[], stderr: string) =>
    assert.deepEqual(await cli(args), { code: 2, stdout: '', stderr: `${stderr}\n` });
  await refused(['frobnicate'], 'mta-sts-server: unknown command frobnicate (see mta-sts-server --help)');
  await refused(['help', 'frobnicate'], 'mta-sts-server help: unknown command frobnicate (see mta-sts-server --help)');
  await refused(['stats', '--bogus'], 'mta-sts-server stats: unknown option --bogus (see mta-sts-server stats --help)');
  await refused(['serve', '-x'], 'mta-sts-server serve: unknown option -x (see mta-sts-server serve --help)');
  await refused(
    ['stats', '--ipv4', '192.0.2.1'],
    'mta-sts-server stats: --ipv4 is an option of dns, not of stats (see mta-sts-server stats --help)',
  );
  await refused(
    ['who', '--json'],
    'mta-sts-server who: --json is an option of dns, check, certs, stats, reports, providers, not of who (see mta-sts-server who --help)',
  );
  await refused(
    ['serve', '--domain', 'example.com'],
    'mta-sts-server serve: --domain is an option of dns, check, stats, reports, who, not of serve (see mta-sts-server serve --help)',
  );
  await refused(
    ['who', '-c', 'mta-sts.yaml'],
    'mta-sts-server who: -c is an option of serve, check-config, dns, check, certs, stats, reports, providers, not of who (see mta-sts-server who --help)',
  );
  await refused(
    ['stats', '--domain'],
    'mta-sts-server stats: --domain needs a value: --domain NAME (see mta-sts-server stats --help)',
  );
  await refused(
    ['dns', '--domain', '--json'],
    'mta-sts-server dns: --domain needs a value: --domain NAME (see mta-sts-server dns --help)',
  );
  await refused(['certs', '--json=yes'], 'mta-sts-server certs: --json takes no value (see mta-sts-server certs --help)');
  await refused(
    ['check-config', 'mta-sts.yaml'],
    'mta-sts-server check-config: unexpected argument mta-sts.yaml (see mta-sts-server check-config --help)',
  );
  await refused(
    ['--config', 'mta-sts.yaml', 'serve'],
    'mta-sts-server: no command before --config: options follow the command, mta-sts-server COMMAND [options] (see mta-sts-server --help)',
  );
});

test('mta-sts-server runs as the README says in a checkout: npx (this build, never the registry) and npm link', async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'mta-sts-npm-'));
  // npm's own settings only, none inherited from an `npm test` around this test; a registry
  // nobody answers at, so a command that asked it for the package would fail.
  const inherited = Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_'));
  const env = {
    ...Object.fromEntries(inherited),
    MTA_STS_CONFIG: undefined,
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_fetch_retries: '0',
    npm_config_cache: join(scratch, 'cache'),
    npm_config_prefix: join(scratch, 'prefix'),
    npm_config_update_notifier: 'false',
  };
  const run = (command: string, args: string[], cwd: string) => spawnSync(command, args, { cwd, env, encoding: 'utf8' });

  // From a folder below the checkout's: npm finds the checkout by walking up to its package.json,
  // the same lookup that ends at once in the checkout's own folder (each npm run is a second of CPU).
  const npx = run('npx', ['mta-sts-server', 'check-config', '--config', EXAMPLE], join(PROJECT, 'config'));
  assert.deepEqual([npx.status, npx.stdout], [0, `${EXAMPLE}: ok, 3 domains\n`], npx.stderr);
  // Outside a checkout the same command would fetch the package from the registry: here it cannot.
  assert.notEqual(run('npx', ['--yes', 'mta-sts-server', '--version'], scratch).status, 0);

  const link = run('npm', ['link', '--no-audit', '--no-fund'], PROJECT);
  assert.equal(link.status, 0, link.stderr);
  assert.equal(await realpath(join(scratch, 'prefix', 'lib', 'node_modules', 'mta-sts-server')), await realpath(PROJECT));
  const linked = run(join(scratch, 'prefix', 'bin', 'mta-sts-server'), ['check-config', '--config', EXAMPLE], scratch);
  assert.deepEqual([linked.status, linked.stdout], [0, `${EXAMPLE}: ok, 3 domains\n`], linked.stderr);
});

// Both signals in one process: each start of the service is a second of CPU.
test('serve: SIGHUP reloads the config; SIGTERM answers the request already sent, refuses new connections, and exits 0', async () => {
  const { configPath } = await writeTestConfig(`domains:\n  example.com: { mode: none }\n${LOOPBACK_LISTEN}`);
  const served = serveProcess(configPath);
  const started = await served.waitForEvent('service_started');
  served.child.kill('SIGHUP');
  const requested = await served.waitForEvent('reload_requested');
  assert.equal(requested.signal, 'SIGHUP');
  const port = (started.https as { port: number }).port;
  const tlsOptions = { host: '127.0.0.1', port, servername: 'mta-sts.example.com', rejectUnauthorized: false };

  // Connections without a request (silent, or idle keep-alive) must not hold the stop up.
  const silent = connect(tlsOptions);
  silent.on('error', () => undefined);
  await once(silent, 'secureConnect');
  const keepAlive = connect(tlsOptions);
  await once(keepAlive, 'secureConnect');
  let response = '';
  keepAlive.on('data', (chunk: Buffer) => (response += chunk.toString()));
  const get = 'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n';
  keepAlive.write(get);
  await served.waitForEvent('policy_fetch');

  // A request sent just before the signal is answered, not cut off.
  keepAlive.write(get);
  const stopAt = Date.now();
  served.child.kill('SIGTERM');
  await served.waitForEvent('shutdown_requested');
  // The line is written as the stop begins (the log is unbuffered), a moment before the listener
  // closes: new connections are refused from then on, while the process still runs.
  const connectOutcome = () =>
    new Promise<string>((resolve) => {
      const socket = connectTcp({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve('accepted')));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
  // A connection still in the listen queue as the listener closes is reset (ECONNRESET): the
  // next one, made once it is closed, is the one that tells.
  const stillClosing = (outcome: string) => outcome === 'accepted' || outcome === 'ECONNRESET';
  let refused = await connectOutcome();
  for (const until = Date.now() + 5_000; stillClosing(refused) && Date.now() < until;) refused = await connectOutcome();
  assert.equal(refused, 'ECONNREFUSED');
  const { code } = await served.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - stopAt < 10_000);
  assert.equal(response.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, 2);
  assert.ok(served.lines.some((line) => line.event === 'service_stopped'));
});
