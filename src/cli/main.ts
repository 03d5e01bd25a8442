#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { listCertificates } from './certs.js';
import { checkConfig } from './check-config.js';
import { configPathFrom } from './config-path.js';
import { printDnsRecords } from './dns.js';
import { serve } from './serve.js';
import { printStats } from './stats.js';
import { who } from './who.js';
import { normaliseDomainName } from '../policy/domain-name.js';

const USAGE = `usage: mta-sts-server <command> [options]

commands:
  serve          serve the MTA-STS policies (default command)
  check-config   validate the config; exit 0 when usable, 2 otherwise
  certs          list each policy host's certificate: issuer, expiry, next renewal, last error
                   --json                     machine-readable output
  stats          who fetched each policy, from the statistics the service keeps in state_dir
                   --since 7d|2w|YYYY-MM-DD   period, in UTC days (default 7d: today and the 6 days before)
                   --domain NAME              only this domain
                   --json                     machine-readable output
  who            summarise who fetches the policies, from the service's log on stdin
                   (docker logs -f mta-sts | mta-sts-server who); --domain NAME to filter
  dns            print the DNS records to publish for each domain
                   --ipv4 ADDR, --ipv6 ADDR   address of this server, for mta-sts.<domain>
                   --cname HOST               or a CNAME target instead
                   --domain NAME              only this domain
                   --json                     machine-readable output
  help           show this text

options:
  --config PATH  config file (default: $MTA_STS_CONFIG, else config/mta-sts.yaml)
  --version      print the version
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        ipv4: { type: 'string' },
        ipv6: { type: 'string' },
        cname: { type: 'string' },
        domain: { type: 'string' },
        since: { type: 'string' },
        json: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`mta-sts-server ${manifest.version}\n`);
    return 0;
  }
  const [command = 'serve', ...rest] = positionals;
  if (rest.length > 0) {
    process.stderr.write(`unexpected argument: ${rest[0]}\n\n${USAGE}`);
    return 2;
  }
  const configPath = configPathFrom(values.config);
  switch (command) {
    case 'serve':
      return serve(configPath, process.stderr);
    case 'check-config':
      return checkConfig(configPath, process.stdout, process.stderr);
    case 'who': {
      const domain = values.domain === undefined ? undefined : normaliseDomainName(values.domain);
      if (domain && !domain.ok) {
        process.stderr.write(`--domain ${values.domain} ${domain.reason}\n`);
        return 2;
      }
      return who(process.stdin, process.stdout, domain?.name);
    }
    case 'stats':
      return printStats(
        configPath,
        { domain: values.domain, since: values.since, json: values.json },
        process.stdout,
        process.stderr,
      );
    case 'certs':
      return listCertificates(configPath, values.json, process.stdout, process.stderr);
    case 'dns':
      return printDnsRecords(
        configPath,
        { target: { ipv4: values.ipv4, ipv6: values.ipv6, cname: values.cname }, domain: values.domain, json: values.json },
        process.stdout,
        process.stderr,
      );
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`unknown command: ${command}\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
