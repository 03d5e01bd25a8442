import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../../src/service/service.js';
import type { ServiceOptions } from '../../src/service/service-options.js';
import { LogCapture } from './log-capture.js';

export { LogCapture } from './log-capture.js';

export interface TestService {
  service: Service;
  log: LogCapture;
  dir: string;
  configPath: string;
  httpsPort: number;
  httpPort: number;
}

/** A scratch folder with `mta-sts.yaml` written from `yaml`; state goes to `state/` beside it. */
export async function writeTestConfig(yaml: string): Promise<{ dir: string; configPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mta-sts-test-'));
  const configPath = join(dir, 'mta-sts.yaml');
  await writeFile(configPath, yaml);
  return { dir, configPath };
}

/** The listen/state part of a test config: loopback, ephemeral ports, state in the scratch folder. */
/**
 * Reverse DNS and the self-check stay off: a forwarded public address would otherwise be looked
 * up, and the domains checked, through the machine's resolvers.
 */
export const LOOPBACK_LISTEN =
  'listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { port: 0 }\nreverse_dns: { enabled: false }\nhealth: { enabled: false }\nstate_dir: state\n';

/** example.com in testing mode on loopback (no admin listener, no reverse DNS), with `reports` (YAML flow mappings, one per line). */
export const reportsTestConfig = (reports: string) => `
domains:
  example.com: { mode: testing, mx: [mail.example.com] }
listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { enabled: false }
reverse_dns: { enabled: false }
state_dir: state
reports:
  ${reports}
`;

/** One policy (example.com), reverse DNS through the tests' DNS server, 127.0.0.1 a trusted proxy so tests can send from any address. */
export const reverseDnsTestConfig = (dnsPort: number, timeoutMs: number) => `
domains:
  example.com: { mode: enforce, mx: [mail.example.com] }
trust_proxy: [127.0.0.1]
listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { enabled: false }
reverse_dns: { servers: ["127.0.0.1:${dnsPort}"], timeout_ms: ${timeoutMs} }
state_dir: state
`;

/** Starts the real service (real sockets, real certificates) from config text. */
export async function startTestService(yaml: string, options: Partial<ServiceOptions> = {}): Promise<TestService> {
  const { dir, configPath } = await writeTestConfig(yaml);
  return startTestServiceAt(dir, configPath, options);
}

/** Starts the service on a config that already exists (a restart over the same state). */
export async function startTestServiceAt(
  dir: string,
  configPath: string,
  options: Partial<ServiceOptions> = {},
): Promise<TestService> {
  const log = new LogCapture();
  const service = await Service.start({ ...options, configPath, logDestination: log });
  return {
    service,
    log,
    dir,
    configPath,
    httpsPort: service.listeners.httpsAddress.port,
    httpPort: service.listeners.httpAddress.port,
  };
}
