import { loadConfigOrReport } from './load-config.js';
import { formatTable } from './table.js';
import { PolicySet } from '../policy/policy-set.js';
import { certificateRows } from '../tls/certificate-rows.js';

/** `mta-sts-server certs`: every policy host with its certificate's issuer, expiry, next renewal and last error. */
export async function listCertificates(
  path: string,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfigOrReport(path, err);
  if (!loaded) return 2;
  const { config } = loaded;
  const hosts = new PolicySet(config.domains).hosts;
  const rows = await certificateRows(config, hosts);
  if (json) {
    out.write(`${JSON.stringify({ source: config.tls.source, certificates: rows }, null, 2)}\n`);
    return 0;
  }
  const table = [['HOST', 'ISSUER', 'NOT AFTER', 'DAYS LEFT', 'NEXT RENEWAL', 'LAST ERROR']].concat(
    rows.map((row) => [
      row.host,
      row.issuer ?? '-',
      row.not_after ?? 'none',
      row.days_left?.toString() ?? '-',
      row.next_renewal ?? '-',
      row.last_error ?? '-',
    ]),
  );
  out.write(formatTable(table));
  return 0;
}
