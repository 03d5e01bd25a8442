import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConfigEnvironment } from '../src/config/environment.js';
import { loadStartConfig, parseConfigText } from '../src/config/load.js';
import { ConfigError, StartError } from '../src/config/start-error.js';

// The config as the service starts with it: what it throws when it cannot start, and the answer
// config checking gives even for a failure nobody foresaw.

async function configFile(yaml: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'mta-sts-config-start-')), 'mta-sts.yaml');
  await writeFile(path, yaml);
  return path;
}

/** What loadStartConfig threw, which must be a ConfigError. */
async function startFailure(path: string): Promise<ConfigError> {
  const error: unknown = await loadStartConfig(path, {}).then(
    () => assert.fail('expected the config to be refused'),
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof ConfigError);
  return error;
}

test('the start config: its text, the config and the warnings; an unreadable or invalid file throws a ConfigError (exit 2)', async () => {
  const yaml = 'domains: { example.com: { mode: enforce, mx: [mail.example.com], max_age: 60 } }\nstate_dir: state\n';
  const path = await configFile(yaml);
  const start = await loadStartConfig(path, {});
  assert.equal(start.text, yaml);
  assert.equal(start.config.stateDir, join(path, '..', 'state'));
  assert.deepEqual(
    start.warnings.map((warning) => warning.split(' ').slice(0, 2).join(' ')),
    [`${path}:1:75 domains.example.com.max_age:`],
  );

  const missing = await startFailure(join(path, '..', 'missing.yaml'));
  assert.deepEqual(missing.problems, [`${join(path, '..', 'missing.yaml')}: cannot read the config file: no such file`]);
  assert.equal(missing.message, 'the config has 1 problem; nothing was started');
  assert.deepEqual(missing.fields, { errors: missing.problems });
  assert.equal(missing.exitCode, 2);
  assert.equal(missing.code, undefined);

  const invalid = await startFailure(await configFile('domains: { example.com: { mode: enforced } }\nlog: { level: loud }\n'));
  assert.equal(invalid.problems.length, 2);
  assert.equal(invalid.message, 'the config has 2 problems; nothing was started');
  assert.deepEqual(invalid.fields, { errors: invalid.problems });
  assert.ok(invalid instanceof StartError);
});

test('a start failure other than the config: exit 1, the system error code beside the setting to blame', () => {
  const failure = new StartError('cannot listen', { setting: 'listen.https', address: '::', port: 443, code: 'EADDRINUSE' });
  assert.equal(failure.message, 'cannot listen');
  assert.equal(failure.code, 'EADDRINUSE');
  assert.equal(failure.exitCode, 1);
  assert.deepEqual(new StartError('no reason given').fields, {});
  assert.equal(new StartError('no code').code, undefined);
});

test('a failure nobody foresaw while checking is one line asking for a bug report, never a throw', () => {
  const env = {
    get MTA_STS_ADMIN_TOKEN(): string {
      throw new TypeError('the environment cannot be read');
    },
  } as ConfigEnvironment;
  assert.deepEqual(parseConfigText('domains: { example.com: { mode: none } }\n', 'mta-sts.yaml', env), {
    ok: false,
    errors: ['mta-sts.yaml: cannot be checked (TypeError: the environment cannot be read); please report this as a bug'],
  });
  const notAnError = {
    get MTA_STS_ADMIN_TOKEN(): string {
      throw 'a thrown string';
    },
  } as ConfigEnvironment;
  assert.deepEqual(parseConfigText('domains: {}\n', 'mta-sts.yaml', notAnError), {
    ok: false,
    errors: ['mta-sts.yaml: cannot be checked (a thrown string); please report this as a bug'],
  });
});
