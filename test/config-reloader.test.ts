import assert from 'node:assert/strict';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadStartConfig } from '../src/config/load.js';
import { ConfigReloader } from '../src/config/reloader.js';
import type { Config } from '../src/config/schema.js';
import type { PolicySet } from '../src/policy/policy-set.js';
import type { DomainPolicy } from '../src/policy/policy.js';
import { LogCapture, writeTestConfig } from './support/service.js';

// The reload controller in process, on a real file: what the log and the handlers see is what an operator sees.

const configWith = (comMode: string, extra = '') => `
domains:
  example.com: { mode: ${comMode}, mx: [mx1.example.com] }
  example.org: { mx: [mx1.example.org] }
state_dir: state
${extra}`;

/** Writes the way editors do: a new file renamed over the old one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

async function reloaderFor(
  yaml: string,
  handlers: {
    apply?: (config: Config, policies: PolicySet) => void;
    reloaded?: (result: string) => void;
    domainsToServe?: (configured: readonly DomainPolicy[]) => DomainPolicy[];
  } = {},
) {
  const { dir, configPath } = await writeTestConfig(yaml);
  const env = {};
  const start = await loadStartConfig(configPath, env);
  const log = new LogCapture();
  const applied: { config: Config; policies: PolicySet }[] = [];
  const results: string[] = [];
  const reloader = new ConfigReloader({
    path: configPath,
    env,
    log: pino({ level: 'info' }, log),
    config: start.config,
    text: start.text,
    reuse: start.reuse,
    handlers: {
      apply: (config, policies) => {
        handlers.apply?.(config, policies);
        applied.push({ config, policies });
      },
      reloaded: (result) => {
        results.push(result);
        handlers.reloaded?.(result);
      },
      ...(handlers.domainsToServe && { domainsToServe: handlers.domainsToServe }),
    },
  });
  return { dir, configPath, log, applied, results, reloader, start };
}

const messages = (log: LogCapture, event: string) => log.events(event).map((line) => line.msg);

test('a changed policy is applied: handlers, the new policy set, and one config_reloaded line with the TXT records to publish', async () => {
  const { configPath, log, applied, results, reloader } = await reloaderFor(configWith('testing'));
  const before = reloader.policies;
  await replaceFile(
    configPath,
    `
domains:
  example.com: { mode: enforce, mx: [mx1.example.com] }
  example.net: { mx: [mx1.example.net] }
state_dir: state
`,
  );
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.equal(applied[0]!.policies, reloader.policies);
  assert.notEqual(reloader.policies, before);
  assert.deepEqual(
    applied[0]!.config.domains.map(({ name, policy }) => `${name} ${policy.mode}`),
    ['example.com enforce', 'example.net testing'],
  );
  assert.deepEqual(results, ['applied']);
  const [reloaded, ...more] = log.events('config_reloaded');
  assert.equal(more.length, 0);
  assert.equal(reloaded!.msg, 'config reloaded: 1 added, 1 removed, 1 changed; publish the new _mta-sts TXT records');
  assert.equal(reloaded!.level, 30);
  assert.equal(reloaded!.domains, 2);
  assert.deepEqual(reloaded!.domains_added, ['example.net']);
  assert.deepEqual(reloaded!.domains_removed, ['example.org']);
  assert.deepEqual(
    (reloaded!.changed as { domain: string; mode: unknown }[]).map(({ domain, mode }) => [domain, mode]),
    [['example.com', { from: 'testing', to: 'enforce' }]],
  );
  const publish = reloaded!.publish as string[];
  assert.deepEqual(
    publish.map((line) => line.replace(/id=\w+/, 'id=ID').replace(/ +/g, ' ')),
    ['_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=ID"', '_mta-sts.example.net. 3600 IN TXT "v=STSv1; id=ID"'],
  );
  assert.deepEqual(log.events('config_restart_required'), []);
  assert.deepEqual(log.events('config_recovered'), []);
});

test('a file saved again unchanged is not applied; a change that moves no policy says so', async () => {
  const { configPath, log, applied, results, reloader } = await reloaderFor(configWith('testing'));
  await reloader.reload();
  assert.deepEqual([applied.length, results, log.lines], [0, [], []]);

  // Another text, the same policies (a comment): applied, and the log says no policy changed.
  await replaceFile(configPath, `${configWith('testing')}# a comment\nlog: { level: warn }\n`);
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.equal(applied[0]!.config.logLevel, 'warn');
  assert.deepEqual(messages(log, 'config_reloaded'), ['config reloaded; no policy changed']);
  assert.deepEqual(log.events('config_reloaded')[0]!.publish, []);
});

test('restart-only settings: named in the log in a fixed order, and the running values kept until a restart', async () => {
  const { configPath, log, applied, reloader, start } = await reloaderFor(configWith('testing'));
  await writeFile(`${configPath}.providers`, 'providers: []\n');
  await replaceFile(
    configPath,
    configWith(
      'enforce',
      `listen: { address: 127.0.0.1, https: 8443, http: 8080 }
tls: { source: acme, acme: { email: ops@example.com, accept_terms: true } }
admin: { port: 9465 }
reverse_dns: { enabled: false }
providers_file: mta-sts.yaml.providers
statistics: { retention_days: 30 }
reports: { retention_days: 30 }
`,
    ).replace('state_dir: state', 'state_dir: elsewhere'),
  );
  await reloader.reload();
  assert.equal(applied.length, 1, log.lines.map((line) => JSON.stringify(line)).join('\n'));
  const [restart, ...more] = log.events('config_restart_required');
  assert.equal(more.length, 0);
  const names = ['listen', 'tls', 'state_dir', 'admin', 'reverse_dns', 'providers_file', 'statistics', 'reports'];
  assert.deepEqual(restart!.settings, names);
  assert.equal(restart!.level, 40);
  assert.equal(restart!.msg, `changes to ${names.join(', ')} take effect after a restart`);
  const { config } = applied[0]!;
  const running = start.config;
  assert.deepEqual(
    [
      config.listen,
      config.tls,
      config.stateDir,
      config.admin,
      config.reverseDns,
      config.providersFile,
      config.statistics,
      config.reports,
    ],
    [
      running.listen,
      running.tls,
      running.stateDir,
      running.admin,
      running.reverseDns,
      running.providersFile,
      running.statistics,
      running.reports,
    ],
  );
  // What a reload does apply: the policies.
  assert.equal(config.domains[0]!.policy.mode, 'enforce');

  // The next reload compares with the running settings, not with the file last read: still named.
  await replaceFile(configPath, `${await readFile(configPath, 'utf8')}# again\n`);
  await reloader.reload();
  assert.equal(log.events('config_restart_required').length, 2);
});

test('retire_removed_domains waits for a restart too, and is the only setting named when it alone changed', async () => {
  const { configPath, log, applied, reloader } = await reloaderFor(configWith('testing'));
  await replaceFile(configPath, `${configWith('testing')}retire_removed_domains: false\n`);
  await reloader.reload();
  assert.equal(applied[0]!.config.retireRemovedDomains, true);
  assert.deepEqual(
    log.events('config_restart_required').map(({ settings }) => settings),
    [['retire_removed_domains']],
  );
});

test('the domains served are what domainsToServe makes of the configured ones: at start, at a reload, and at refresh()', async () => {
  // A domain removed from the config that the policy lifecycle still serves (retiring).
  const retiring: DomainPolicy = {
    name: 'example.net',
    policy: { mode: 'none', mx: [], maxAge: 86_400 },
    tlsRptRua: [],
  };
  let stillRetiring = true;
  const { configPath, log, applied, reloader } = await reloaderFor(configWith('testing'), {
    domainsToServe: (configured) => (stillRetiring ? [...configured, retiring] : [...configured]),
  });
  const served = () =>
    ['example.com', 'example.org', 'example.net'].filter((name) => reloader.policies.forHost(`mta-sts.${name}`));
  assert.deepEqual(served(), ['example.com', 'example.org', 'example.net']);

  // Nothing changed: refresh() applies nothing.
  await reloader.refresh();
  assert.equal(applied.length, 0);

  await replaceFile(configPath, configWith('enforce'));
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.deepEqual(served(), ['example.com', 'example.org', 'example.net']);

  // The retirement ended: refresh() serves the configured domains alone, with the config being served.
  stillRetiring = false;
  await reloader.refresh();
  assert.equal(applied.length, 2);
  assert.equal(applied[1]!.config, applied[0]!.config);
  assert.equal(applied[1]!.policies, reloader.policies);
  assert.deepEqual(served(), ['example.com', 'example.org']);
  // A refresh is no reload: no config_reloaded line of its own.
  assert.equal(log.events('config_reloaded').length, 1);
});

test("a new config's warnings are logged one per line", async () => {
  const { configPath, log, reloader } = await reloaderFor(configWith('testing'));
  await replaceFile(configPath, `${configWith('enforce')}defaults: { mode: enforce, max_age: 3600 }\n`);
  await reloader.reload();
  const warnings = log.events('config_warning');
  assert.deepEqual(
    warnings.map((line) => [line.level, line.msg === line.warning]),
    [
      [40, true],
      [40, true],
    ],
  );
  assert.match(
    warnings[0]!.warning as string,
    /^\/.*mta-sts\.yaml:6:37 defaults\.max_age: max_age 3600 is below 86400 \(one day\) for enforced domain example\.com;/,
  );
});

test('an invalid file: rejected, logged once while it stays, the last good config kept; the same mistake later is logged again', async () => {
  const { configPath, log, applied, results, reloader } = await reloaderFor(configWith('testing'));
  const served = reloader.policies;
  const broken = configWith('testing').replace('mode: testing', 'mode: enforcing');
  await replaceFile(configPath, broken);
  await reloader.reload();
  await reloader.reload();
  assert.deepEqual(results, ['rejected', 'rejected']);
  assert.equal(applied.length, 0);
  assert.equal(reloader.policies, served);
  const [invalid, ...more] = log.events('config_invalid');
  assert.equal(more.length, 0, 'the same problem is said once');
  assert.equal(invalid!.level, 50);
  assert.equal(invalid!.msg, 'config not applied; still serving the last good config');
  assert.deepEqual(invalid!.errors, [
    `${configPath}:3:24 domains.example.com.mode: "enforcing" is not a mode; allowed: enforce, testing, none`,
  ]);

  // Back to the text already served: the problem is over, nothing to apply.
  await replaceFile(configPath, configWith('testing'));
  await reloader.reload();
  assert.deepEqual(
    log.events('config_recovered').map(({ applied: was, msg, level }) => [was, msg, level]),
    [[false, 'the config is valid again; it is the config already served', 30]],
  );
  await reloader.reload();
  assert.equal(log.events('config_recovered').length, 1, 'said once');

  // The same mistake again is a new problem.
  await replaceFile(configPath, broken);
  await reloader.reload();
  assert.equal(log.events('config_invalid').length, 2);

  // Fixed with a new config: applied, and the recovery says so.
  await replaceFile(configPath, configWith('enforce'));
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.deepEqual(
    log.events('config_recovered').map(({ applied: was, msg }) => [was, msg]),
    [
      [false, 'the config is valid again; it is the config already served'],
      [true, 'the config is valid again and applied'],
    ],
  );
  assert.deepEqual(results, ['rejected', 'rejected', 'rejected', 'applied']);
});

test('a deleted file is config_unreadable, with the reason; a different problem after it is logged too', async () => {
  const { configPath, log, reloader } = await reloaderFor(configWith('testing'));
  await unlink(configPath);
  await reloader.reload();
  assert.deepEqual(
    log.events('config_unreadable').map(({ errors }) => errors),
    [[`${configPath}: cannot read the config file: no such file`]],
  );
  await writeFile(configPath, 'domains: [\n');
  await reloader.reload();
  assert.equal(log.events('config_invalid').length, 1);
});

test('a reload that throws is logged with its reason and leaves the queue working, even when reporting it throws too', async () => {
  let fault: unknown = new TypeError('simulated fault');
  let rejectedFails = false;
  const { configPath, log, applied, reloader } = await reloaderFor(configWith('testing'), {
    apply: () => {
      if (fault !== undefined) throw fault;
    },
    reloaded: (result) => {
      if (rejectedFails && result === 'rejected') throw new Error('metrics broken');
    },
  });
  await replaceFile(configPath, configWith('enforce'));
  await reloader.reload();
  assert.deepEqual(
    log.events('config_error').map(({ errors }) => errors),
    [[`${configPath}: the reload failed: TypeError: simulated fault`]],
  );
  // A thrown value that is no Error is named as it is.
  fault = 'a string';
  await replaceFile(configPath, configWith('none'));
  await reloader.reload();
  assert.deepEqual(log.events('config_error').at(-1)!.errors, [`${configPath}: the reload failed: a string`]);

  // Reporting the failure fails as well: the promise still resolves, and the next reload runs.
  rejectedFails = true;
  await replaceFile(configPath, configWith('enforce').replace('mx1.example.com', 'mx2.example.com'));
  await reloader.reload();
  fault = undefined;
  await replaceFile(configPath, configWith('enforce').replace('mx1.example.com', 'mx3.example.com'));
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.deepEqual(
    reloader.policies.forHost('mta-sts.example.com')?.policy.mx.map(({ text }) => text),
    ['mx3.example.com'],
  );
});

test('without a reloaded handler (no metrics): a rejected reload is still logged, an applied one still applied and logged', async () => {
  const { dir, configPath } = await writeTestConfig(configWith('testing'));
  const start = await loadStartConfig(configPath, {});
  const log = new LogCapture();
  const applied: Config[] = [];
  const reloader = new ConfigReloader({
    path: configPath,
    env: {},
    log: pino({ level: 'info' }, log),
    config: start.config,
    text: start.text,
    reuse: start.reuse,
    handlers: { apply: (config) => applied.push(config) },
  });
  await replaceFile(configPath, configWith('enforcing'));
  await reloader.reload();
  assert.equal(log.events('config_invalid').length, 1, dir);
  await replaceFile(configPath, configWith('enforce'));
  await reloader.reload();
  assert.equal(applied.length, 1);
  assert.equal(log.events('config_reloaded').length, 1);
  assert.deepEqual(log.events('config_error'), []);
});

test('reloads run one at a time, in the order asked', async () => {
  const order: string[] = [];
  const { configPath, reloader } = await reloaderFor(configWith('testing'), {
    apply: (config) => order.push(config.domains[0]!.policy.mode),
  });
  await replaceFile(configPath, configWith('enforce'));
  const first = reloader.reload();
  const second = reloader.reload();
  await Promise.all([first, second]);
  // The second read the same text the first applied: nothing more to apply.
  assert.deepEqual(order, ['enforce']);
});

test('start watches the file and applies an edit; stop ends the watch, and is harmless before start', async () => {
  const { configPath, log, reloader } = await reloaderFor(configWith('testing'));
  reloader.stop();
  reloader.start();
  reloader.start();
  try {
    await replaceFile(configPath, configWith('enforce'));
    await log.waitFor((line) => line.event === 'config_reloaded');
  } finally {
    reloader.stop();
  }
  assert.equal(reloader.policies.forHost('mta-sts.example.com')?.policy.mode, 'enforce');
});
