/** The bench's other sections: a config of many domains (--scale-domains, 100 000 by default), the classifier, the CLI, `who`, and the log flood. */
import { cliCases, runCliBench, type CliResult } from './cli.js';
import { runClassifierBench, type ClassifierResult } from './classifier.js';
import { type HttpsFixture } from './https.js';
import { runLogFlood, type LogFloodResult } from './log-flood.js';
import { heading, table, verdict } from './report.js';
import { BASELINE_DOMAINS, LOAD_AROUND_RELOAD_MS, runScale, type ScaleResult } from './scale.js';
import { runWhoBench, type WhoResult } from './who.js';
import { cliTiming, floodRequests, print, scaleDomains, TARGETS, whoTiming } from './options.js';

export async function scaleSection(work: string): Promise<ScaleResult> {
  print(heading(`Scale: one config with ${scaleDomains} domains (tls.source self-signed)`));
  const scale = await runScale(work, scaleDomains, (line) => print(`  ${line}`));
  const { cold, warm, reload, baseline } = scale;
  print(`config: ${scale.domains} domains, ${(scale.configBytes / 1024).toFixed(0)} KiB of YAML`);
  print('');
  print(
    table(
      ['measurement', 'value', 'target', 'verdict'],
      [
        ['cold start: Service.start (issues certificates), ms', cold.serviceStartMs, '', ''],
        ['cold start: fork until ready, ms', cold.processReadyMs, '', ''],
        ['cold start: peak RSS, MB', cold.peakRssMb, '', ''],
        ['cold run: stop (writes the new policy histories), ms', cold.stopMs, '', ''],
        [
          'warm start: Service.start (reuses state dir), ms',
          warm.serviceStartMs,
          `< ${TARGETS.scaleStartMs}`,
          verdict(warm.serviceStartMs < TARGETS.scaleStartMs),
        ],
        ['warm start: fork until ready, ms', warm.processReadyMs, '', ''],
        ['warm start: RSS after start, MB', warm.rssAfterStartMb, '', ''],
        ['warm run: stop, ms', warm.stopMs, '', ''],
        [
          'hot reload: file written until config_reloaded, ms',
          reload.reloadMs,
          `< ${TARGETS.reloadMs}`,
          verdict(reload.reloadMs < TARGETS.reloadMs),
        ],
        ['hot reload: longest event-loop stall, ms', reload.maxStallMs, '', ''],
        ['  of which loadConfigText from the last load (in-process, warm), ms', scale.steps.reloadLoadMs, '', ''],
        ['    of which the YAML parse from the last one, ms', scale.steps.reloadYamlParseMs, '', ''],
        ['  of which new PolicySet from the served one, ms', scale.steps.policySetMs, '', ''],
        ['  of which diffPolicySets, ms', scale.steps.diffMs, '', ''],
        ['the same load from scratch, as at start (in-process, warm), ms', scale.steps.loadConfigTextMs, '', ''],
        ['  of which the YAML parse, ms', scale.steps.yamlParseMs, '', ''],
        ['hot reload: until the added host has a certificate, ms', reload.newHostsReadyMs, '', ''],
        [
          `requests from ${LOAD_AROUND_RELOAD_MS / 1000} s before to ${LOAD_AROUND_RELOAD_MS / 1000} s after the reload`,
          reload.client.requests,
          '',
          '',
        ],
        ['failed requests', reload.client.failures, '0', verdict(reload.client.failures === 0)],
        ['client p99 / max latency, ms', `${reload.client.p99Ms.toFixed(1)} / ${reload.client.maxMs.toFixed(1)}`, '', ''],
        [
          'warm run (reload + load): peak RSS, MB',
          warm.peakRssMb,
          `< ${TARGETS.scalePeakRssMb}`,
          verdict(warm.peakRssMb < TARGETS.scalePeakRssMb),
        ],
        [
          `the same with ${BASELINE_DOMAINS} domains: RSS after start / peak, MB`,
          `${baseline.rssAfterStartMb.toFixed(1)} / ${baseline.peakRssMb.toFixed(1)}`,
          '',
          '',
        ],
        [
          'memory per domain: RSS after start / peak, KiB',
          `${scale.perDomainKb.afterStart.toFixed(2)} / ${scale.perDomainKb.peak.toFixed(2)}`,
          '',
          '',
        ],
      ],
    ),
  );
  for (const sample of reload.client.failureSamples) print(`  failure: ${sample}`);
  print(
    "(the reload time includes the service's 100 ms file-watch debounce; valid files are read with js-yaml,\n the yaml library parses again only to locate problems or warnings)",
  );
  return scale;
}

export async function classifierSection(): Promise<ClassifierResult> {
  print(heading('Provider classifier: lookups/s, shipped ranges vs 65 536 generated'));
  const result = await runClassifierBench();
  print(
    table(
      ['table', 'ranges', 'lookups/s'],
      [
        ['shipped config/providers.yaml', result.shippedRanges, result.shippedLookupsPerSecond],
        ['shipped + generated', result.generatedRanges, result.generatedLookupsPerSecond],
      ],
    ),
  );
  print(
    `ratio ${result.ratio.toFixed(2)} for ${(result.generatedRanges / result.shippedRanges).toFixed(0)}× the ranges ` +
      `(loading the large table took ${result.generatedLoadMs.toFixed(0)} ms)`,
  );
  return result;
}

export async function cliSection(work: string): Promise<CliResult[]> {
  print(heading('CLI start-up: wall time against node -e 0'));
  print(
    `Each command as a user runs it (node dist/src/cli/main.js ...), paired with a run of \`node -e 0\` (Node's own ` +
      `start-up, the floor), ${cliTiming.rounds} rounds, the order alternating, after ${cliTiming.warmups} unmeasured run(s) of each.`,
  );
  const results = runCliBench(await cliCases(work), cliTiming, (line) => print(`  ${line}`));
  print('');
  print(
    table(
      ['command', 'median ms', 'node -e 0 ms', 'ratio', 'ratio range', 'target', 'verdict'],
      results.map((result) => [
        result.name,
        result.medianMs,
        result.baselineMedianMs,
        result.ratio,
        `${Math.min(...result.ratios).toFixed(2)}–${Math.max(...result.ratios).toFixed(2)}`,
        result.target === null ? '' : `≤ ${result.target}`,
        result.target === null ? '' : verdict(result.ratio <= result.target),
      ]),
    ),
  );
  const checkConfig = results.find((result) => result.target !== null)!;
  print(
    `RATIO check-config / node -e 0: ${checkConfig.ratio.toFixed(2)} (median of ${cliTiming.rounds} paired rounds, ` +
      `Node ${process.version}; target ≤ ${TARGETS.checkConfigRatio}: ${verdict(checkConfig.ratio <= TARGETS.checkConfigRatio)})`,
  );
  return results;
}

export async function whoSection(work: string): Promise<WhoResult> {
  print(heading(`who: lines per second on a recorded log of ${whoTiming.lines} lines`));
  print(
    'The log of a busy host (src: bench/who.ts): two requests a millisecond from 60 000 addresses, each followed by its ' +
      'policy_fetch_ptr line 20 ms to 2 s later, except the one in ten from private addresses, which wait in who for ' +
      'their line until 90 s of log time have passed. who reads it piped (`who < log > /dev/null`), against a Node ' +
      `process that reads and JSON-parses every line and does nothing else; ${whoTiming.rounds} round(s), order alternating.`,
  );
  const result = await runWhoBench(work, whoTiming, (line) => print(`  ${line}`));
  print('');
  print(
    table(
      ['reader', 'lines/s'],
      [
        ['who', result.whoLinesPerSecond],
        ['read and parse only', result.parseLinesPerSecond],
      ],
    ),
  );
  const peak = result.whoPeakRssMb === null ? 'unknown' : `${result.whoPeakRssMb.toFixed(0)} MB`;
  print(
    `RATIO who / read and parse only: ${result.ratio.toFixed(2)} (median of the paired rounds); who's peak RSS ${peak}; ` +
      `${result.requestsWithoutPtr} requests from unknown private senders got no reverse DNS line.`,
  );
  return result;
}

export async function logsSection(fixture: HttpsFixture, work: string): Promise<LogFloodResult[]> {
  print(heading('Log flood: bytes of log per request with a 16 000-byte User-Agent of 0x9B (CSI)'));
  print(
    `${floodRequests} requests per scenario from one address over 8 keep-alive connections to a fresh service ` +
      '(production log destination, to a file; statistics off), then the log file is measured after a clean stop.',
  );
  const results = await runLogFlood(fixture, work, floodRequests, (line) => print(`  ${line}`));
  print('');
  print(
    table(
      ['scenario', 'requests', 'answered', 'log MB', 'bytes/request', 'policy_fetch lines', 'log_suppressed lines'],
      results.map(({ scenario, requests, answered, logBytes, bytesPerRequest, fetchLines, suppressedLines }) => {
        const logMegabytes = logBytes / 2 ** 20;
        return [scenario, requests, answered, logMegabytes, bytesPerRequest, fetchLines, suppressedLines];
      }),
    ),
  );
  return results;
}
