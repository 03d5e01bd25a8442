/**
 * Messages between bench/run.js and its child processes over the Node IPC channel. Servers and
 * load generators each run in their own process so that their CPU time and peak RSS are their own.
 */

/** What a server child (the real service or the minimal node:https server) is asked to do. */
export type ServerCommand =
  | { type: 'sample' }
  /** Replace the config file with `text` and time it until the service logs `config_reloaded`. */
  | { type: 'reload'; text: string }
  /** CPU-profile the server (node:inspector) until `profile-stop`, which writes the .cpuprofile to `path`. */
  | { type: 'profile-start' }
  | { type: 'profile-stop'; path: string }
  | { type: 'stop' };

export type ServerReport =
  /** rssKb: the resident set once started, before any request. */
  | { type: 'ready'; port: number; startMs: number; rssKb: number }
  | { type: 'sample'; cpuUs: number; atMs: number; maxRssKb: number }
  | { type: 'reloaded'; reloadMs: number; maxStallMs: number; newHostsReadyMs: number }
  | { type: 'profiling' }
  | { type: 'profiled' }
  | { type: 'stopped'; maxRssKb: number };

export interface LoadPlan {
  port: number;
  /** keep-alive: `connections` persistent connections; new-connection: a new TCP + TLS connection (full handshake) per request. */
  mode: 'keep-alive' | 'new-connection';
  connections: number;
  warmupMs: number;
  /** null: measure until the parent sends `stop`. */
  durationMs: number | null;
  /** PEM trust anchors: requests verify the server certificate as real fetchers do. */
  ca: string;
  /** Policy hosts; each request picks one at random and sends it as SNI and Host. */
  hosts: string[];
  path: string;
  userAgent: string;
  /** The exact body the first response must carry (checked once, reported as `bodyVerified`). */
  expectBody?: string;
}

export type LoadCommand = { type: 'start'; plan: LoadPlan } | { type: 'stop' };

export interface LoadResult {
  /** Successful responses completed inside the measuring window. */
  requests: number;
  /** Errors, non-200 statuses or bodies that are not a policy, over the whole run (warm-up included). */
  failures: number;
  failureSamples: string[];
  windowMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  clientCpuPct: number;
  /** null when there was nothing to check: no expected body, or no successful response. */
  bodyVerified: boolean | null;
}

export type LoadReport = { type: 'window-start' } | { type: 'window-end' } | ({ type: 'result' } & LoadResult);

/** Child side; resolves once the message is handed to the channel, so that a disconnect after it cannot drop it. */
export function toParent(message: ServerReport | LoadReport): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, undefined, () => resolve()));
}

/** Child side: a child whose parent went away has nobody to report to; it must not linger. */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0));
}
