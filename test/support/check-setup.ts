import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { loadConfigFile } from '../../src/config/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { TestDnsServer } from './dns-server.js';
import { freePorts } from './ports.js';
import { startTestServiceAt, writeTestConfig, type TestService } from './service.js';
import { TestCa, type PemPair } from './test-ca.js';

/** An MX host as the checks meet it: on its own loopback address, all on one port (`--smtp-port`). */
export interface TestMx {
  address: string;
  /** STARTTLS with this certificate; undefined offers no STARTTLS. */
  tls?: PemPair;
}

/** The real service, real SMTP servers and the DNS server on loopback: what `check` looks at. */
export interface CheckSetup {
  dns: TestDnsServer;
  running: TestService;
  ca: TestCa;
  caPath: string;
  smtpPort: number;
  /** The policy id the service serves, by domain. */
  ids: Map<string, string>;
  /** The check command's arguments that point it at this setup (config, resolver, CA, ports). */
  args: string[];
  stop(): Promise<void>;
}

/**
 * Starts the service for `domainsYaml` (the `domains:` mapping's lines) with a certificate from a
 * test CA for every policy host, and an SMTP server per entry of `mx`, on `mx[i].address`.
 * A server listed in `silent` accepts connections and never says a word.
 */
export async function startCheckSetup(
  domainsYaml: string,
  mx: (ca: TestCa) => Promise<TestMx[]>,
  silent: string[] = [],
): Promise<CheckSetup> {
  const ca = await TestCa.create();
  const { dir, configPath } = await writeTestConfig('');
  const policyHosts = [...domainsYaml.matchAll(/^ {2}([a-z0-9.-]+):/gm)].map((match) => `mta-sts.${match[1]}`);
  const caPath = await writePolicyCertificate(ca, dir, policyHosts);
  await writeFile(
    configPath,
    `domains:\n${domainsYaml}tls:\n  source: files\n  certificates: [{ cert: policy.crt, key: policy.key }]\n` +
      'listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { enabled: false }\nreverse_dns: { enabled: false }\nstate_dir: state\n',
  );
  const running = await startTestServiceAt(dir, configPath);
  const ids = await servedIds(configPath);
  const dns = await TestDnsServer.start();
  const [smtpPort] = await freePorts(1);
  const servers: (SMTPServer | Server)[] = [];
  const held: Socket[] = [];
  for (const host of await mx(ca)) servers.push(await startTestMx(host.address, smtpPort!, host.tls));
  for (const address of silent) {
    const server = createServer((socket) => held.push(socket.on('error', () => undefined)));
    server.listen(smtpPort, address);
    await once(server, 'listening');
    servers.push(server);
  }
  return {
    dns,
    running,
    ca,
    caPath,
    smtpPort: smtpPort!,
    ids,
    args: ['--config', configPath, ...checkArgsAt(dns, caPath, { httpsPort: running.httpsPort, smtpPort: smtpPort! })],
    stop: async () => {
      for (const socket of held) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))));
      await dns.close();
      await running.service.stop();
    },
  };
}

/** The policy id served for each domain of the config at `configPath`. */
export async function servedIds(configPath: string): Promise<Map<string, string>> {
  const loaded = await loadConfigFile(configPath, {});
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return new Map([...new PolicySet(loaded.config.domains).policies].map((policy) => [policy.domain, policy.id]));
}

/** The DNS of a domain that does everything right: the STS record with the served id, the policy host, TLSRPT, and its MX. */
export function publishHealthyDomain(setup: CheckSetup, domain: string, mx: { host: string; address: string }[]): void {
  setup.dns.setTxt(`_mta-sts.${domain}`, [`v=STSv1; id=${setup.ids.get(domain)}`]);
  setup.dns.setA(`mta-sts.${domain}`, ['127.0.0.1']);
  setup.dns.setTxt(`_smtp._tls.${domain}`, [`v=TLSRPTv1; rua=mailto:tlsrpt@${domain}`]);
  setup.dns.setMx(
    domain,
    mx.map((record, index) => ({ priority: 10 * (index + 1), exchange: record.host })),
  );
  for (const record of mx) setup.dns.setA(record.host, [record.address]);
}

/** Where the self-check of `serve` looks in a test: the tests' DNS server, CA and ports; its first round at once. */
export function selfCheckAt(dns: TestDnsServer, ca: TestCa, ports: { httpsPort: number; smtpPort: number }, timeoutMs: number) {
  return { resolver: [{ address: '127.0.0.1', port: dns.port }], ca: [ca.pem], ...ports, timeoutMs, firstCheckDelayMs: 0 };
}

/** The check command's arguments that point it at the tests' DNS server, CA file and ports. */
export function checkArgsAt(dns: TestDnsServer, caPath: string, ports: { httpsPort: number; smtpPort: number }): string[] {
  return [
    '--resolver',
    `127.0.0.1:${dns.port}`,
    '--ca-file',
    caPath,
    '--smtp-port',
    String(ports.smtpPort),
    '--https-port',
    String(ports.httpsPort),
  ];
}

/**
 * A certificate from `ca` for `hosts` as policy.crt and policy.key in `dir` (a config names them
 * in `tls.certificates`), and the CA as ca.pem, whose path it returns (`check --ca-file`).
 */
export async function writePolicyCertificate(ca: TestCa, dir: string, hosts: string[]): Promise<string> {
  const certificate = await ca.issue(hosts);
  await writeFile(join(dir, 'policy.crt'), certificate.cert);
  await writeFile(join(dir, 'policy.key'), certificate.key);
  const caPath = join(dir, 'ca.pem');
  await writeFile(caPath, ca.pem);
  return caPath;
}

/** An MX host on `address:port`: STARTTLS with `tls`, none when it is undefined. */
export async function startTestMx(address: string, port: number, tls: PemPair | undefined): Promise<SMTPServer> {
  const server = new SMTPServer({
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    authOptional: true,
    // The client's name through the system's resolvers would be asked per connection: slow, and not the test's business.
    disableReverseLookup: true,
    logger: false,
  });
  server.listen(port, address);
  await once(server.server, 'listening');
  return server;
}
