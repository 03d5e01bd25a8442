import { simpleParser } from 'mailparser';
import { GZIP_MEDIA_TYPE, JSON_MEDIA_TYPE } from './decode.js';

/** A report found in a message: its bytes and the RFC 8460 media type they are in. */
export interface ReportPart {
  mediaType: typeof GZIP_MEDIA_TYPE | typeof JSON_MEDIA_TYPE;
  content: Buffer;
  /** The attachment name, e.g. `google.com!example.com!1472688000!1472774399!001.json.gz`. */
  filename: string | null;
}

// Generic types senders put on a report attached by name (`sender!policy-domain!begin!end!id.json.gz`).
const GENERIC_TYPES = new Set([
  'application/gzip',
  'application/x-gzip',
  'application/octet-stream',
  'application/json',
  'text/plain',
]);

/**
 * The TLS reports in an RFC 5322 message. RFC 8460 §5.3 sends a `multipart/report;
 * report-type=tlsrpt` with one `application/tlsrpt+gzip` or `+json` part; real senders add text
 * parts around it or attach the report under a generic type with a `.json.gz` / `.json` name.
 * Other parts are ignored.
 */
export async function extractReportParts(message: Buffer): Promise<ReportPart[]> {
  const parsed = await simpleParser(message, {
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
    skipTextLinks: true,
  });
  const parts: ReportPart[] = [];
  for (const attachment of parsed.attachments) {
    const mediaType = reportMediaType(attachment.contentType.toLowerCase(), attachment.filename?.toLowerCase() ?? '');
    if (mediaType) parts.push({ mediaType, content: attachment.content, filename: attachment.filename ?? null });
  }
  return parts;
}

function reportMediaType(contentType: string, filename: string): ReportPart['mediaType'] | undefined {
  if (contentType === GZIP_MEDIA_TYPE || contentType === JSON_MEDIA_TYPE) return contentType;
  if (!GENERIC_TYPES.has(contentType)) return undefined;
  if (filename.endsWith('.json.gz') || filename.endsWith('.gz')) return GZIP_MEDIA_TYPE;
  if (filename.endsWith('.json')) return JSON_MEDIA_TYPE;
  return undefined;
}
