import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { JsonLogProcess } from '../support/json-log-process.js';
import { MAILAUTH_CLIENT, MAILAUTH_MTA_STS, type ClientResult, type DnsJson } from '../support/mailauth-client.js';
import { NetworkNamespace } from '../support/network-namespace.js';

/*
 * An independent MTA-STS client — mailauth's lib/mta-sts.js, as a sending MTA uses it — fetches
 * the policies from the real `serve` command, over real TLS on port 443 with SNI. Both run in a
 * network namespace made for the test, so port 443 is free and nothing leaves loopback. The
 * client's DNS answers are exactly the records printed by `mta-sts-server dns --json`, so
 * mailauth's strict RFC 8461 parser checks the TXT records an admin is told to publish, too.
 *
 * mailauth 7 declares node >= 22, but lib/mta-sts.js uses nothing newer than Node 20 has, so the
 * client runs on the node that runs this test; CI runs the suite on Node 20 and on Node 24.
 */

const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(PROJECT, 'dist', 'src', 'cli', 'main.js');
const START_TIMEOUT_MS = 30_000;

const CONFIG = `
domains:
  example.com:
    mode: enforce
    mx: [mail.example.com, "*.mx.example.com"]
    max_age: 1209600
  bücher.example:
    mode: testing
    mx: [mx.bücher.example]
    max_age: 86400
  retired.example.org:
    mode: none
    max_age: 86400
listen: { address: "::", https: 443, http: 80 }
tls: { source: self-signed }
state_dir: state
log: { level: info }
`;

/**
 * What mailauth must find, keyed by the name a sending MTA would look up: the IDN domain as
 * U-labels (mailauth converts it), the policy as A-labels in lower case, RFC 8461 §3.2.
 */
const EXPECTED: Record<string, { aLabel: string; mode: string; mx?: string[]; maxAge: number }> = {
  'example.com': { aLabel: 'example.com', mode: 'enforce', mx: ['mail.example.com', '*.mx.example.com'], maxAge: 1_209_600 },
  'bücher.example': { aLabel: 'xn--bcher-kva.example', mode: 'testing', mx: ['mx.xn--bcher-kva.example'], maxAge: 86_400 },
  'retired.example.org': { aLabel: 'retired.example.org', mode: 'none', maxAge: 86_400 },
};

// Published in DNS, pointing at this server, but not in the config.
const UNKNOWN_DOMAIN = 'unknown.example.net';

describe('mailauth, an independent MTA-STS client, accepts the served policies', () => {
  let dir: string | undefined;
  let netns: NetworkNamespace | undefined;
  let service: JsonLogProcess | undefined;
  let dns: DnsJson;
  let results: Record<string, ClientResult>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mta-sts-mailauth-'));
    const configPath = join(dir, 'mta-sts.yaml');
    await writeFile(configPath, CONFIG);

    // The records an admin would publish, with this server at 127.0.0.1.
    dns = JSON.parse(
      execFileSync(process.execPath, [MAIN, 'dns', '--config', configPath, '--json', '--ipv4', '127.0.0.1'], {
        encoding: 'utf8',
      }),
    ) as DnsJson;
    const zone: Record<string, string[] | string[][]> = {};
    for (const { records } of dns.domains) {
      for (const { name, type, value } of records) {
        const host = name.replace(/\.$/, '');
        if (type === 'A') zone[`A ${host}`] = [value];
        if (type !== 'TXT') continue;
        // Zone-file TXT values are quoted; resolvers return each record as a list of strings.
        const quoted = /^"(.*)"$/.exec(value);
        assert.ok(quoted, `TXT value of ${name} is quoted: ${value}`);
        zone[`TXT ${host}`] = [[quoted[1]!]];
      }
    }
    zone[`TXT _mta-sts.${UNKNOWN_DOMAIN}`] = [['v=STSv1; id=20240101']];
    zone[`A mta-sts.${UNKNOWN_DOMAIN}`] = ['127.0.0.1'];

    netns = await NetworkNamespace.create();
    // Root inside the namespace: binding 443 needs no sysctl, and the host's 443 is untouched.
    service = new JsonLogProcess(
      netns.spawn(process.execPath, [MAIN, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    await service.waitForEvent('service_started', START_TIMEOUT_MS);

    const clientPath = join(dir, 'mailauth-client.cjs');
    await writeFile(clientPath, MAILAUTH_CLIENT);
    const domains = [...Object.keys(EXPECTED), UNKNOWN_DOMAIN];
    // NODE_EXTRA_CA_CERTS is the only way mailauth's request trusts another CA; node reads it at start.
    const output = netns.execFileSync(process.execPath, [clientPath, MAILAUTH_MTA_STS, JSON.stringify({ zone, domains })], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(dir, 'state', 'self-signed', 'ca.pem') },
      timeout: 60_000,
    });
    results = JSON.parse(output) as Record<string, ClientResult>;
  });

  after(async () => {
    try {
      await service?.kill();
    } finally {
      await netns?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('publishes, with the dns command, the _mta-sts TXT records that serve announces at start', () => {
    const started = service!.lines.filter((line) => line.event === 'service_started');
    assert.equal(started.length, 1);
    const announced = (started[0]!.publish as string[]).map((line) => {
      const match = /^(\S+)\s+\d+\s+IN\s+TXT\s+(".*")$/.exec(line);
      assert.ok(match, `zone line: ${line}`);
      return { name: match[1]!, value: match[2]! };
    });
    const printed = dns.domains.flatMap(({ records }) =>
      records
        .filter(({ name, type }) => type === 'TXT' && name.startsWith('_mta-sts.'))
        .map(({ name, value }) => ({ name, value })),
    );
    assert.equal(printed.length, Object.keys(EXPECTED).length);
    assert.deepEqual(announced, printed);
  });

  for (const [domain, expected] of Object.entries(EXPECTED)) {
    it(`finds the ${expected.mode} policy of ${domain}, with the id of its published TXT record`, () => {
      const published = dns.domains.find((entry) => entry.domain === expected.aLabel);
      assert.ok(published, `dns --json lists ${expected.aLabel}`);
      const result = results[domain]!;
      assert.equal(result.status, 'found', `mailauth: ${JSON.stringify(result.policy.error)}`);
      // expires is mailauth's clock plus maxAge, and maxAge is compared here.
      const { expires: _expires, ...policy } = result.policy;
      assert.deepEqual(policy, {
        id: published.policy_id,
        mode: expected.mode,
        version: 'STSv1',
        ...(expected.mx && { mx: expected.mx }),
        maxAge: expected.maxAge,
      });
    });
  }

  it('does not find a policy for a domain this server does not serve', () => {
    const result = results[UNKNOWN_DOMAIN]!;
    assert.equal(result.status, 'errored');
    assert.equal(result.policy.mode, 'none');
    // The server has no certificate for a host it does not serve; it shows its neutral
    // self-signed certificate, and the client refuses it before any HTTP request is made.
    assert.equal(result.policy.error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});
