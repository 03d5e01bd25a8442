/**
 * The commands and their options, as data: run.ts parses with it and the help texts are made
 * from it. Each command imports its module when it runs, so that `check-config`, `dns`, `who` and
 * `--help` never load what only `serve` needs (Fastify, acme-client, prom-client, pino) and only
 * `stats` loads the SQLite module.
 */
import { printable } from '../text/printable.js';
import { configPathFrom } from './config-path.js';

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help text, for string options. */
  value?: string;
  help: string;
}

const OPTIONS = {
  config: {
    type: 'string',
    short: 'c',
    value: 'PATH',
    help: 'config file (default: $MTA_STS_CONFIG, else config/mta-sts.yaml)',
  },
  since: {
    type: 'string',
    value: '7d|2w|YYYY-MM-DD',
    help: 'period, in UTC days (default 7d: today and the 6 days before)',
  },
  domain: { type: 'string', value: 'NAME', help: 'only this domain' },
  ipv4: { type: 'string', value: 'ADDR', help: "this server's IPv4 address, for mta-sts.<domain>" },
  ipv6: { type: 'string', value: 'ADDR', help: "this server's IPv6 address, for mta-sts.<domain>" },
  cname: { type: 'string', value: 'HOST', help: 'or a CNAME target instead of addresses' },
  json: { type: 'boolean', help: 'machine-readable output' },
  rejected: { type: 'boolean', help: 'list the rejected reports, with the reason' },
  resolver: {
    type: 'string',
    value: 'IP[:PORT]',
    help: "DNS server to ask (default: the config's health.resolver or providers.resolver, else the system's)",
  },
  'ca-file': { type: 'string', value: 'PEM', help: 'trust these CA certificates too (a private or test CA)' },
  'smtp-port': { type: 'string', value: 'N', help: 'port of the MX hosts (default 25; for private networks and tests)' },
  'https-port': { type: 'string', value: 'N', help: 'port of the policy hosts (default 443; for private networks and tests)' },
  timeout: { type: 'string', value: 'S', help: 'seconds each DNS query, policy fetch and SMTP exchange may take (default 10)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** What parseArgs gives back for these options. */
export type OptionValues = { [Name in OptionName]?: (typeof OPTIONS)[Name]['type'] extends 'string' ? string : boolean };

/** What a command uses of its process: the standard streams and the environment; the process itself, or a test's stand-ins. */
export interface CommandContext {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  /** One line for the general usage. */
  summary: string;
  /** Paragraphs for `COMMAND --help`, after the summary. */
  details?: string;
  /** The command's own options; --help comes with every command. */
  options: readonly OptionName[];
  /** Arguments after the command, as the usage line shows them (`[import FILE|DIR...]`); none when absent. */
  arguments?: string;
  run(values: OptionValues, context: CommandContext, args: readonly string[]): Promise<number>;
}

const configPath = (values: OptionValues, { env }: CommandContext) => configPathFrom(values.config, env);

export const COMMANDS: readonly Command[] = [
  {
    name: 'serve',
    summary: "serve the MTA-STS policies (the container's command)",
    details:
      'Logs one JSON line per event on stdout. Reloads the config when the file changes or on SIGHUP;\n' +
      'SIGTERM finishes the requests in flight and exits 0. A failed start logs one service_failed line\n' +
      'and exits 2 for an invalid config, 1 otherwise.',
    options: ['config'],
    run: async (values, context) => (await import('./serve.js')).serve(configPath(values, context), context.stdout),
  },
  {
    name: 'check-config',
    summary: 'validate the config; exit 0 when usable, 2 otherwise',
    details: 'Every problem is printed at once, one line each: file:line:column field.path: what is wrong.',
    options: ['config'],
    run: async (values, context) =>
      (await import('./check-config.js')).checkConfig(configPath(values, context), context.stdout, context.stderr),
  },
  {
    name: 'dns',
    summary: 'print the DNS records to publish for each domain',
    options: ['ipv4', 'ipv6', 'cname', 'domain', 'json', 'config'],
    run: async (values, context) =>
      (await import('./dns.js')).printDnsRecords(
        configPath(values, context),
        {
          target: { ipv4: values.ipv4, ipv6: values.ipv6, cname: values.cname },
          domain: values.domain,
          json: values.json === true,
        },
        context.stdout,
        context.stderr,
      ),
  },
  {
    name: 'check',
    summary: 'check each domain from the outside, as a sending MTA sees it: DNS records, policy host, MX hosts',
    details:
      'Checks per domain: sts_txt, sts_txt_id, policy_host_dns, policy_fetch, policy_certificate, mx_covered,\n' +
      'mx_starttls, tlsrpt_txt; each ok, warn or fail, with what to fix. For domains in testing, whether\n' +
      'enforce is safe; for mode none, when the records can be deleted.\n' +
      'Exit 0 when no check failed, 1 when one did, 2 for bad arguments or config.',
    options: ['domain', 'json', 'resolver', 'ca-file', 'smtp-port', 'https-port', 'timeout', 'config'],
    run: async (values, context) =>
      (await import('./check.js')).runChecks(
        configPath(values, context),
        {
          domain: values.domain,
          json: values.json === true,
          resolver: values.resolver,
          caFile: values['ca-file'],
          smtpPort: values['smtp-port'],
          httpsPort: values['https-port'],
          timeout: values.timeout,
        },
        context.stdout,
        context.stderr,
      ),
  },
  {
    name: 'certs',
    summary: "list each policy host's certificate: issuer, expiry, next renewal, last error",
    options: ['json', 'config'],
    run: async (values, context) =>
      (await import('./certs.js')).listCertificates(
        configPath(values, context),
        values.json === true,
        context.stdout,
        context.stderr,
      ),
  },
  {
    name: 'stats',
    summary: 'who fetched each policy, from the statistics the service keeps in state_dir',
    details:
      'Counts each GET answered with a policy, per domain and provider, and says which providers\n' +
      'have not fetched the current policy since it changed. Exit 1 when there are no statistics to read.',
    options: ['since', 'domain', 'json', 'config'],
    run: async (values, context) =>
      (await import('./stats.js')).printStats(
        configPath(values, context),
        { domain: values.domain, since: values.since, json: values.json === true },
        context.stdout,
        context.stderr,
      ),
  },
  {
    name: 'reports',
    summary: 'TLS reports (RFC 8460) received per domain, and whether testing domains are ready for enforce',
    details:
      'Per domain: reports, successful and failed sessions, per reporting organization, failures by result\n' +
      'type and receiving MX, and a line per day (the UTC days the reports cover). For domains in testing:\n' +
      'ready for enforce when, over the last 14 days, at least two organizations reported and no session\n' +
      'failed in a way enforce would bounce. Default period 30d.\n' +
      'reports import FILE|DIR... stores reports from .json, .json.gz and .eml files (and directories of them);\n' +
      'exit 1 when one was rejected or could not be read.',
    options: ['since', 'domain', 'json', 'rejected', 'config'],
    arguments: '[import FILE|DIR...]',
    run: async (values, context, args) => {
      if (args.length > 0 && args[0] !== 'import') {
        context.stderr.write(`mta-sts-server reports: unexpected argument ${args[0]} (see mta-sts-server reports --help)\n`);
        return 2;
      }
      const reports = await import('./reports.js');
      return args[0] === 'import'
        ? reports.importReports(configPath(values, context), args.slice(1), context.stdout, context.stderr)
        : reports.printReports(
            configPath(values, context),
            { domain: values.domain, since: values.since, json: values.json === true, rejected: values.rejected === true },
            context.stdout,
            context.stderr,
          );
    },
  },
  {
    name: 'providers',
    summary: "refresh the providers' sending ranges from their SPF records, into state_dir",
    details:
      'providers refresh reads the SPF records each provider names (spf: in the provider list), following\n' +
      "include: and redirect= within RFC 7208's limits, stores the ranges in state_dir (the service applies them\n" +
      'at its next refresh or start) and prints what changed since the previous refresh.\n' +
      "Exit 1 when a provider's records could not be read (its previous ranges are kept), 2 for bad arguments or config.",
    options: ['json', 'resolver', 'config'],
    arguments: 'refresh',
    run: async (values, context, args) => {
      if (args.length !== 1 || args[0] !== 'refresh') {
        const why = args.length === 0 ? 'expected refresh' : `unexpected argument ${printable(args.join(' '), 80)}`;
        context.stderr.write(`mta-sts-server providers: ${why} (see mta-sts-server providers --help)\n`);
        return 2;
      }
      return (await import('./providers.js')).refreshProvidersCommand(
        configPath(values, context),
        { json: values.json === true, ...(values.resolver !== undefined && { resolver: values.resolver }) },
        context.stdout,
        context.stderr,
      );
    },
  },
  {
    name: 'who',
    summary: "who fetches the policies right now, from the service's log on stdin",
    details:
      'docker logs -f mta-sts | mta-sts-server who\n' +
      'On a terminal a table is redrawn every second; piped, one line per request, then the table.\n' +
      'Counts what stats counts: each GET answered with a policy.',
    options: ['domain'],
    run: async (values, { stdin, stdout, stderr }) => (await import('./who.js')).who(stdin, stdout, stderr, values.domain),
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** parseArgs options for one command: its own, and --help. */
export function parseOptionsOf(command: Command): Partial<Record<OptionName, OptionSpec>> {
  return Object.fromEntries([...command.options, 'help'].map((name) => [name, OPTIONS[name as OptionName]]));
}

/** The option a parsed name stands for: a long name, or a short one (`c` for config). */
export function optionNamed(name: string): OptionName | undefined {
  if (Object.hasOwn(OPTIONS, name)) return name as OptionName;
  return (Object.keys(OPTIONS) as OptionName[]).find((option) => (OPTIONS[option] as OptionSpec).short === name);
}

export function optionSpec(name: OptionName): OptionSpec {
  return OPTIONS[name];
}

/** The commands that take `--name`, for a message when another command was given it. */
export function commandsWithOption(name: OptionName): string[] {
  return COMMANDS.filter((command) => command.options.includes(name)).map((command) => command.name);
}

const column = (rows: [string, string][], indent: string) => {
  const width = Math.max(...rows.map(([left]) => left.length)) + 3;
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}${right}`.trimEnd()).join('\n');
};

const optionLabel = (name: OptionName) => {
  const spec: OptionSpec = OPTIONS[name];
  return `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
};

export const GENERAL_USAGE = `usage: mta-sts-server COMMAND [options]

commands:
${column(
  COMMANDS.map((command) => [command.name, command.summary]),
  '  ',
)}

mta-sts-server COMMAND --help (or mta-sts-server help COMMAND) lists a command's options;
mta-sts-server --version prints the version.
`;

export function commandUsage(command: Command): string {
  const sections = [
    `usage: mta-sts-server ${command.name} [options]${command.arguments ? ` ${command.arguments}` : ''}`,
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.${command.details ? `\n${command.details}` : ''}`,
    `options:\n${column(
      [...command.options, 'help' as const].map((name) => [optionLabel(name), OPTIONS[name].help]),
      '  ',
    )}`,
  ];
  return `${sections.join('\n\n')}\n`;
}
