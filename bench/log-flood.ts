/**
 * How much log one client can make the service write: requests with a 16 000-character
 * User-Agent from one address, as fast as 8 keep-alive connections go, against the real service
 * logging through its production destination to a file. Bytes of log per request, for policy
 * fetches (always logged, the User-Agent cut to 256 characters) and for 404s (at most 20 lines a
 * minute per address, then one log_suppressed line). The User-Agent is the byte 0x9B (CSI)
 * repeated, what grows a line most: Node reads it as Latin-1, so each byte is two bytes of UTF-8
 * when logged raw, and seven (`\\u009b` in JSON) when escaped.
 */
import { Agent } from 'node:https';
import { join } from 'node:path';
import { fetchPolicy } from '../test/support/fetch-policy.js';
import { countLines, fixtureVariant, FETCH_LINE, POLICY_HOST, startService, stopServer, type HttpsFixture } from './https.js';

const USER_AGENT = '\u009b'.repeat(16_000);
const CONNECTIONS = 8;
const SUPPRESSED_LINE = '"event":"log_suppressed"';

export interface LogFloodResult {
  scenario: string;
  requests: number;
  /** Requests answered with the status the scenario expects. */
  answered: number;
  logBytes: number;
  bytesPerRequest: number;
  fetchLines: number;
  suppressedLines: number;
  seconds: number;
}

const SCENARIOS = [
  { scenario: 'policy fetch (GET 200)', host: POLICY_HOST, status: 200 },
  { scenario: '404 (a host not ours)', host: 'mta-sts.not-ours.example', status: 404 },
] as const;

export async function runLogFlood(
  fixture: HttpsFixture,
  work: string,
  requests: number,
  progress: (line: string) => void,
): Promise<LogFloodResult[]> {
  const results: LogFloodResult[] = [];
  for (const { scenario, host, status } of SCENARIOS) {
    const variant = await fixtureVariant(fixture, join(work, `log-flood-${status}`), ['statistics: { enabled: false }']);
    const server = await startService(variant, 'flood.log');
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const started = performance.now();
    let answered = 0;
    let next = 0;
    const send = async () =>
      (
        await fetchPolicy({
          port: server.port,
          host,
          servername: POLICY_HOST,
          ca: fixture.caPem,
          agent,
          headers: { 'user-agent': USER_AGENT },
        })
      ).status;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < requests) {
          next++;
          if ((await send()) === status) answered++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    agent.destroy();
    await stopServer(server);
    const log = await countLines(server.logPath, [FETCH_LINE, SUPPRESSED_LINE]);
    const result = {
      scenario,
      requests,
      answered,
      logBytes: log.bytes,
      bytesPerRequest: log.bytes / requests,
      fetchLines: log.matching[0]!,
      suppressedLines: log.matching[1]!,
      seconds,
    };
    progress(
      `${scenario}: ${requests} requests in ${seconds.toFixed(1)} s, ${(log.bytes / 2 ** 20).toFixed(2)} MB of log, ` +
        `${result.fetchLines} policy_fetch lines, ${result.suppressedLines} log_suppressed lines`,
    );
    results.push(result);
  }
  return results;
}
