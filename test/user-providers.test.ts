import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/config/start-error.js';
import { Service } from '../src/service/service.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { LogCapture, LOOPBACK_LISTEN, startTestService, writeTestConfig } from './support/service.js';

const USER_PROVIDERS = `
providers:
  google:
    name: Google (with our relay)
    user_agents: ['^Google-SMTP-STS']
    ranges: [198.51.100.0/24]
  mycorp:
    name: MyCorp outbound MTAs
    user_agents: ['^MyCorp-MTA/']
    ranges: []
`;

test('providers from the user’s own file replace shipped entries and add new ones', async () => {
  const { dir } = await writeTestConfig('');
  await writeFile(`${dir}/my-providers.yaml`, USER_PROVIDERS);
  const running = await startTestService(
    `domains: { example.com: { mode: none } }\ntrust_proxy: [127.0.0.1]\nproviders_file: ${dir}/my-providers.yaml\n${LOOPBACK_LISTEN}`,
  );
  try {
    const ca = await readFile(`${running.dir}/state/self-signed/ca.pem`, 'utf8');
    const as = (ip: string, ua: string) =>
      fetchPolicy({
        port: running.httpsPort,
        host: 'mta-sts.example.com',
        ca,
        headers: { 'x-forwarded-for': ip, 'user-agent': ua },
      });
    await as('198.51.100.9', 'Google-SMTP-STS');
    await as('209.85.128.5', 'Google-SMTP-STS'); // a shipped Google range, replaced by the user's entry
    await as('203.0.113.7', 'MyCorp-MTA/2.0');
    assert.deepEqual(
      running.log.events('policy_fetch').map((line) => [line.ip, line.provider, line.provider_evidence, line.provider_claimed]),
      [
        ['198.51.100.9', 'google', 'ua+ip', null],
        ['209.85.128.5', 'unknown', 'none', 'google'],
        ['203.0.113.7', 'mycorp', 'ua', null],
      ],
    );
  } finally {
    await running.service.stop();
  }
});

test('a broken providers file stops the start with errors naming that file', async () => {
  const { dir, configPath } = await writeTestConfig(
    `domains: { example.com: { mode: none } }\nproviders_file: my-providers.yaml\n${LOOPBACK_LISTEN}`,
  );
  await writeFile(`${dir}/my-providers.yaml`, 'providers:\n  mycorp: { name: MyCorp, user_agents: [], ranges: [10.0.0.1/8] }\n');
  await assert.rejects(Service.start({ configPath, logDestination: new LogCapture() }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(
      error.problems.join('\n'),
      new RegExp(`^${dir}/my-providers.yaml:2:53 providers.mycorp.ranges\\[0\\]: "10.0.0.1/8" is not a CIDR range`),
    );
    return true;
  });
});

test('check-config reads providers_file as serve does: a broken one is exit 2 with its located problem', async () => {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const { dir, configPath } = await writeTestConfig(
    `domains: { example.com: { mode: none } }\nproviders_file: my-providers.yaml\n${LOOPBACK_LISTEN}`,
  );
  const checkConfig = () => {
    const result = spawnSync(process.execPath, [main, 'check-config', '--config', configPath], { encoding: 'utf8' });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  await writeFile(`${dir}/my-providers.yaml`, 'providers:\n  mycorp: { name: MyCorp, user_agents: [], ranges: [10.0.0.1/8] }\n');
  assert.deepEqual(checkConfig(), {
    code: 2,
    stdout: '',
    stderr: `${dir}/my-providers.yaml:2:53 providers.mycorp.ranges[0]: "10.0.0.1/8" is not a CIDR range: the address has bits set beyond the /8 prefix\n`,
  });
  await writeFile(`${dir}/my-providers.yaml`, USER_PROVIDERS);
  assert.deepEqual(checkConfig(), { code: 0, stdout: `${configPath}: ok, 1 domain\n`, stderr: '' });
});
