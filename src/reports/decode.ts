import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { formatPath } from '../text/quote.js';
import { printable } from '../text/printable.js';
import { jsonErrorPosition } from './json-error-position.js';
import type { ReportFacts } from '../storage/tls-report-store.js';
import { reportFacts, tlsReportSchema } from './tls-report.js';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

/** RFC 8460 §3 / §5.3 media types of a report. */
export const GZIP_MEDIA_TYPE = 'application/tlsrpt+gzip';
export const JSON_MEDIA_TYPE = 'application/tlsrpt+json';
export const REPORT_MEDIA_TYPES = [GZIP_MEDIA_TYPE, JSON_MEDIA_TYPE] as const;

/** A report that parsed: its facts, and the compressed bytes kept for audit. */
export interface DecodedReport {
  ok: true;
  facts: ReportFacts;
  /** The report gzip-compressed: as sent when it came compressed, compressed here when it came as JSON. */
  compressed: Buffer;
}
export type DecodeResult = DecodedReport | { ok: false; reason: string };

/** Problems named in a rejection: more are summed up as a count. */
const MAX_PROBLEMS_NAMED = 5;

/**
 * One report body as RFC 8460 sends it. Gzip is inflated with a hard cap: a bomb stops at
 * `maxReportBytes` of output, never inflating more. Every rejection says where the body is wrong.
 */
export async function decodeReport(body: Buffer, mediaType: string, maxReportBytes: number): Promise<DecodeResult> {
  const type = mediaType.split(';', 1)[0]!.trim().toLowerCase();
  let json: Buffer;
  if (type === GZIP_MEDIA_TYPE) {
    try {
      json = await gunzipAsync(body, { maxOutputLength: maxReportBytes });
    } catch (error) {
      return { ok: false, reason: gzipFailure(error as NodeJS.ErrnoException, maxReportBytes) };
    }
  } else if (type === JSON_MEDIA_TYPE) {
    if (body.length > maxReportBytes) return { ok: false, reason: `report is larger than ${maxReportBytes} bytes` };
    json = body;
  } else {
    return {
      ok: false,
      reason: `media type ${printable(mediaType, 80)} is not a TLS report; expected ${REPORT_MEDIA_TYPES.join(' or ')}`,
    };
  }
  const parsed = parseReportJson(json);
  if (!parsed.ok) return parsed;
  return { ok: true, facts: parsed.facts, compressed: type === GZIP_MEDIA_TYPE ? body : await gzipAsync(json) };
}

function gzipFailure(error: NodeJS.ErrnoException, maxReportBytes: number): string {
  if (error.code === 'ERR_BUFFER_TOO_LARGE') return `report inflates to more than ${maxReportBytes} bytes (max_report_bytes)`;
  if (error.code === 'Z_BUF_ERROR') return 'gzip data is truncated';
  return `gzip data is invalid: ${printable(error.message, 120)}`;
}

/** The report JSON (UTF-8, RFC 8460 §4) checked against the schema. */
export function parseReportJson(json: Buffer): { ok: true; facts: ReportFacts } | { ok: false; reason: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    return { ok: false, reason: 'report is not UTF-8 text' };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: jsonFailure(text, (error as Error).message) };
  }
  const result = tlsReportSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    const named = problems.slice(0, MAX_PROBLEMS_NAMED).join('; ');
    const more = problems.length > MAX_PROBLEMS_NAMED ? ` (and ${problems.length - MAX_PROBLEMS_NAMED} more)` : '';
    return { ok: false, reason: `not an RFC 8460 report: ${named}${more}` };
  }
  return { ok: true, facts: reportFacts(result.data) };
}

/** "invalid JSON at line 3 column 7 (position 41): Unexpected token" from JSON.parse's message. */
function jsonFailure(text: string, message: string): string {
  const named = /at position (\d+)/.exec(message)?.[1];
  const position = named === undefined ? (jsonErrorPosition(text) ?? text.length) : Number(named);
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  // V8 quotes the text around the error ('..."port-id": }" is not valid JSON'): the position says it better.
  const what = /^Unexpected end of JSON input/.test(message)
    ? 'unexpected end of input'
    : message.replace(/ (in JSON )?at position \d+[\s\S]*$/, '').replace(/, (\.\.\.)?"[\s\S]*$/, '');
  return `invalid JSON at line ${line} column ${column} (position ${position}): ${printable(what, 120)}`;
}
