import { createInterface } from 'node:readline';
import { formatTable } from './table.js';
import { FetchSummary, parseLogLine, type FetchLine } from '../fetches/fetch-summary.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { loggable } from '../text/printable.js';

const REDRAW_MS = 1_000;

/**
 * `mta-sts-server who`: reads the service's JSON log from stdin (`docker logs -f mta-sts |
 * mta-sts-server who`) and shows who fetches the policies, counting what `stats` counts. On a
 * terminal, a table redrawn every second; otherwise one plain line per request (those that are no
 * fetch marked so), then the table when the input ends. The log may come from anywhere, so every
 * string from it is cut and escaped before it reaches the terminal.
 */
export async function who(
  input: NodeJS.ReadableStream,
  out: NodeJS.WritableStream & { isTTY?: boolean },
  err: NodeJS.WritableStream,
  domainOption: string | undefined,
): Promise<number> {
  const wanted = domainOption === undefined ? undefined : normaliseDomainName(domainOption);
  if (wanted && !wanted.ok) {
    err.write(`--domain ${domainOption} ${wanted.reason}\n`);
    return 2;
  }
  const domain = wanted?.name;
  const summary = new FetchSummary();
  const live = out.isTTY === true;
  let changed = false;
  const redraw = live
    ? setInterval(() => {
        if (!changed) return;
        changed = false;
        out.write(`\x1b[H\x1b[2J${renderTable(summary)}`);
      }, REDRAW_MS)
    : undefined;
  const print = batchedWriter(out);
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    const line = parseLogLine(text);
    if (!line) continue;
    if ('fetch' in line) {
      if (domain !== undefined && line.fetch.domain !== domain) continue;
      const counted = summary.add(line.fetch);
      changed ||= counted;
      if (!live) print(`${plainLine(line.fetch)}${counted ? '' : NOT_COUNTED}\n`);
    } else {
      if (domain !== undefined && line.ptr.domain !== domain) continue;
      const moved = summary.addPtr(line.ptr);
      if (!moved) continue;
      changed = true;
      if (!live)
        print(
          `${loggable(line.ptr.time)} ${loggable(moved.provider)} by reverse DNS ${loggable(line.ptr.ptr ?? '-')}: ` +
            `the fetch of ${loggable(moved.time)} from ${loggable(moved.ip)}\n`,
        );
    }
  }
  clearInterval(redraw);
  print.flush();
  out.write(`${live ? '\x1b[H\x1b[2J' : '\n'}${renderTable(summary)}`);
  return 0;
}

/**
 * Writes text once the lines of the input read so far are done (a write per line cost `who` a
 * tenth of its time on a busy log); a line still appears as soon as the input that caused it.
 */
function batchedWriter(out: NodeJS.WritableStream): ((text: string) => void) & { flush(): void } {
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    out.write(pending);
    pending = '';
  };
  return Object.assign(
    (text: string) => {
      if (pending === '') setImmediate(flush);
      pending += text;
    },
    { flush },
  );
}

/** After the line of a request that is not a fetch of a policy (a HEAD, an error, another host). */
const NOT_COUNTED = '  (not counted)';

function plainLine(fetch: FetchLine): string {
  const claimed = fetch.provider_claimed ? ` (user agent claims ${loggable(fetch.provider_claimed)})` : '';
  const fields = [fetch.domain ?? '-', fetch.ip, fetch.method, String(fetch.status), fetch.policy_id ?? '-'].map(loggable);
  return `${loggable(fetch.time)} ${loggable(fetch.provider)}${claimed} ${fields.join(' ')}`;
}

function renderTable(summary: FetchSummary): string {
  const rows = summary.rows();
  if (rows.length === 0) return 'no policy fetches seen yet\n';
  const cells = [['PROVIDER', 'FETCHES', 'ADDRESSES', 'LAST SEEN', 'LAST POLICY ID', 'UA CONTRADICTED']].concat(
    rows.map((row) => [
      loggable(row.provider),
      String(row.fetches),
      String(row.addresses),
      loggable(row.lastSeen),
      loggable(row.lastPolicyId ?? '-'),
      String(row.contradicted),
    ]),
  );
  return formatTable(cells);
}
