import { dirname, resolve } from 'node:path';
import {
  ADMIN_TOKEN_VARIABLE,
  IMAP_PASSWORD_VARIABLE,
  NO_ENVIRONMENT,
  readEnvironment,
  type ConfigEnvironment,
} from './environment.js';
import { describeIssues, isMapping, PARSE_ONCE, type Problem } from './issues.js';
import { printable } from '../text/printable.js';
import { formatPath } from '../text/quote.js';
import type { DomainPolicy } from '../policy/policy.js';
import { adminExposure } from './admin-exposure.js';
import { configSchema, type Config } from './schema.js';
import { ConfigError } from './start-error.js';
import { alignKeys } from './key-alignment.js';
import { parseYaml, readYamlFile } from './yaml-document.js';
import { sameData, type EarlierParse } from './yaml-reparse.js';

export type ConfigLoadResult =
  { ok: true; config: Config; warnings: string[]; reuse: ConfigReuse } | { ok: false; errors: string[] };

/**
 * What a valid load leaves for the next one, so that a reload validates only the domain entries
 * written differently: at 100 000 domains the schema and the name checks over every entry were
 * most of a reload. Read by this module alone.
 */
export interface ConfigReuse {
  /** The text and js-yaml's data for it; `policies` is config.domains, in the order of the keys of the data's `domains`. */
  readonly parse: EarlierParse;
  readonly policies: readonly DomainPolicy[];
}

/** RFC 8461 §3.2 suggests weeks; an enforced policy cached for less than a day gives little protection. */
const SHORT_ENFORCE_MAX_AGE = 86_400;

/**
 * Reads and validates a config file. Every problem comes back at once as one line
 * `file:line:column field.path: what is wrong and what is allowed` (`VARIABLE (environment): ...`
 * for a setting taken from `env`). Never throws.
 */
export async function loadConfigFile(path: string, env: ConfigEnvironment = NO_ENVIRONMENT): Promise<ConfigLoadResult> {
  const read = await readConfigText(path);
  return read.ok ? loadConfigText(read.text, path, env) : { ok: false, errors: [read.problem] };
}

/** The config to start with, and the text it was read from; throws ConfigError with every located problem. */
export async function loadStartConfig(
  path: string,
  env: ConfigEnvironment,
): Promise<{ config: Config; warnings: string[]; text: string; reuse: ConfigReuse }> {
  const read = await readConfigText(path);
  if (!read.ok) throw new ConfigError([read.problem]);
  const loaded = loadConfigText(read.text, path, env);
  if (!loaded.ok) throw new ConfigError(loaded.errors);
  return { ...loaded, text: read.text };
}

/** The config file's text, or why it cannot be had; never throws. */
export function readConfigText(path: string): Promise<{ ok: true; text: string } | { ok: false; problem: string }> {
  return readYamlFile(path, 'the config file');
}

/**
 * Validates config text read from `path`; relative paths in it are resolved against the file's folder.
 * With the `reuse` of an earlier valid load, domain entries written as then are taken from it
 * unchecked; the answer is the same as without. Never throws.
 */
export function loadConfigText(
  text: string,
  path: string,
  env: ConfigEnvironment = NO_ENVIRONMENT,
  reuse?: ConfigReuse,
): ConfigLoadResult {
  const result = parseConfigText(text, path, env, reuse);
  if (result.ok) resolvePaths(result.config, dirname(resolve(path)));
  return result;
}

/** Relative paths in the file are relative to the file's own folder, wherever the service is started from. */
function resolvePaths(config: Config, base: string): void {
  config.stateDir = resolve(base, config.stateDir);
  if (config.providersFile !== undefined) config.providersFile = resolve(base, config.providersFile);
  if (config.tls.source === 'acme' && config.tls.acme.ca_bundle) {
    config.tls.acme.ca_bundle = resolve(base, config.tls.acme.ca_bundle);
  }
  if (config.tls.source === 'files') {
    for (const pair of config.tls.certificates) {
      pair.cert = resolve(base, pair.cert);
      pair.key = resolve(base, pair.key);
    }
  }
}

/** Parses and validates config text; never throws: whatever the text, the answer is a config or located errors. */
export function parseConfigText(
  text: string,
  displayPath: string,
  env: ConfigEnvironment = NO_ENVIRONMENT,
  reuse?: ConfigReuse,
): ConfigLoadResult {
  try {
    return validate(text, displayPath, env, reuse);
  } catch (error) {
    // The last line of defence: every known case has its own located message, but the running
    // service must survive an unknown one too, and say what it was without a stack trace.
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { ok: false, errors: [`${displayPath}: cannot be checked (${printable(what, 160)}); please report this as a bug`] };
  }
}

function validate(text: string, displayPath: string, env: ConfigEnvironment, reuse: ConfigReuse | undefined): ConfigLoadResult {
  const parsed = parseYaml(text, displayPath, reuse?.parse);
  if (!parsed.ok) return parsed;
  const { document } = parsed;
  // An empty file (or one with only comments) is an empty mapping: the errors then say what is missing.
  const data = document.data ?? {};
  const result = (reuse && validateChanged(data, reuse)) ?? configSchema.safeParse(data, PARSE_ONCE);
  const duplicates = document.duplicateKeys().map(({ path, offset }) => ({
    offset,
    message: `${formatPath(path)}: duplicate key; each key may appear only once in a mapping`,
  }));
  const environment = readEnvironment(env);
  // A token set in the environment, even a broken one, is not reported again as a missing token.
  const exposed = adminExposure(data, env[ADMIN_TOKEN_VARIABLE] !== undefined);
  if (!result.success || duplicates.length > 0 || exposed.length > 0 || environment.errors.length > 0) {
    const invalid = result.success ? [] : describeIssues(result.error.issues, configSchema, data);
    return { ok: false, errors: [...document.reportProblems([...invalid, ...exposed], duplicates), ...environment.errors] };
  }
  const config = result.data;
  // The password is never in the file, so a missing one is said where reports.imap is enabled.
  if (config.reports.imap.enabled && environment.imapPassword === undefined) {
    return { ok: false, errors: document.reportProblems([imapPasswordMissing]) };
  }
  // The file's token wins, as every key written in the file does over the environment.
  if (config.admin.token === undefined && environment.adminToken !== undefined) config.admin.token = environment.adminToken;
  return {
    ok: true,
    config,
    warnings: document.reportProblems(warningsFor(config, data)),
    reuse: { parse: { text: document.text, data }, policies: config.domains },
  };
}

/**
 * The schema's answer for `data` when it is valid, checking only the domain entries written
 * differently from `reuse` (with everything else in the file); undefined when it cannot tell that
 * way: the whole file is then checked, so that any problem is found and worded exactly as at start.
 */
function validateChanged(data: unknown, reuse: ConfigReuse): { success: true; data: Config } | undefined {
  const written = data as { defaults?: unknown; domains?: unknown };
  const earlier = reuse.parse.data as { defaults?: unknown; domains: object };
  // Every domain's policy is made with the defaults, and its mx rule reads their mode.
  if (!isMapping(written.domains) || !sameData(written.defaults, earlier.defaults)) return undefined;
  const writtenDomains = written.domains;
  const earlierDomains = earlier.domains as Record<string, unknown>;
  const keys = Object.keys(writtenDomains);
  // reuse.policies is in the order of the earlier keys: the same index is the same domain.
  const match = alignKeys(Object.keys(earlierDomains), keys);
  const changed: Record<string, unknown> = {};
  const kept = keys.map((key, index) => {
    const at = match[index]!;
    if (at >= 0 && sameData(writtenDomains[key], earlierDomains[key])) return reuse.policies[at];
    changed[key] = writtenDomains[key];
    return undefined;
  });
  const checked = configSchema.safeParse({ ...written, domains: changed }, PARSE_ONCE);
  if (!checked.success) return undefined;
  // The schema saw the changed entries in the order they are written, so they come back in it.
  let next = 0;
  const domains = kept.map((policy) => policy ?? checked.data.domains[next++]!);
  // The one rule across entries: a name written twice (the changed entries were checked among themselves).
  if (new Set(domains.map((domain) => domain.name)).size !== domains.length) return undefined;
  return { success: true, data: { ...checked.data, domains } };
}

const imapPasswordMissing: Problem = {
  path: ['reports', 'imap', 'enabled'],
  at: 'value',
  message: `the IMAP password must be given in the environment variable ${IMAP_PASSWORD_VARIABLE} (never in this file)`,
};

type RawDomains = Record<string, { max_age?: unknown } | null>;

/** Things that are allowed but almost certainly not meant. */
function warningsFor(config: Config, data: unknown): Problem[] {
  // config.domains is in the order of the mapping's keys: the same index is the same domain.
  const keys = Object.keys((data as { domains: RawDomains }).domains);
  const written = (data as { domains: RawDomains }).domains;
  const warnings: Problem[] = [];
  config.domains.forEach((domain, index) => {
    const key = keys[index]!;
    if (domain.name.startsWith('mta-sts.')) {
      const mailDomain = domain.name.slice('mta-sts.'.length);
      warnings.push({
        path: ['domains', key],
        at: 'key',
        message:
          `this is the policy host of ${mailDomain}, not a mail domain: it would be served at mta-sts.${domain.name}; ` +
          `list the mail domain (${mailDomain}) and its policy is served at ${domain.name}`,
      });
    }
    if (domain.policy.mode === 'enforce' && domain.policy.maxAge < SHORT_ENFORCE_MAX_AGE) {
      const path = written[key]?.max_age === undefined ? ['defaults', 'max_age'] : ['domains', key, 'max_age'];
      warnings.push({
        path,
        at: 'value',
        message:
          `max_age ${domain.policy.maxAge} is below ${SHORT_ENFORCE_MAX_AGE} (one day) for enforced domain ${domain.name}; ` +
          'senders will re-fetch often and an attacker who blocks the fetch can strip TLS sooner',
      });
    }
  });
  const writtenLog = (data as { log?: { flush_interval_ms?: unknown } }).log;
  if (writtenLog?.flush_interval_ms !== undefined && config.logBufferBytes === 0) {
    warnings.push({
      path: ['log', 'flush_interval_ms'],
      at: 'key',
      message:
        'has no effect while log.buffer_bytes is 0 (every line is written as it is logged); ' +
        'set buffer_bytes to gather lines, or remove flush_interval_ms',
    });
  }
  return warnings;
}
