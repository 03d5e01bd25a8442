import { stsTxtRecord, formatZoneLine } from '../dns/records.js';
import type { ServedPolicy } from '../policy/policy-set.js';
import type { CheckEnvironment } from './check-environment.js';
import { shown, type CheckResult } from './check-result.js';

export type StsRecord = { ok: true; id: string; record: string } | { ok: false; problem: string };

// RFC 8461 §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT); extensions are name=value with a restricted alphabet.
const STS_ID = /^id=([A-Za-z0-9]{1,32})$/;
const STS_EXTENSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+$/;

/**
 * Reads the `_mta-sts` TXT record as RFC 8461 §3.1 tells senders to: the records that begin with
 * `v=STSv1` are kept, there must be exactly one, and it must parse (`v=STSv1` first, fields
 * separated by ";" with optional whitespace, exactly one `id`).
 */
export function readStsRecord(values: readonly string[]): StsRecord {
  const candidates = values.filter((value) => /^v=STSv1(?:[ \t]*;|$)/.test(value));
  if (candidates.length === 0) return { ok: false, problem: 'no TXT record begins with v=STSv1' };
  if (candidates.length > 1) {
    return {
      ok: false,
      problem: `${candidates.length} TXT records begin with v=STSv1 (${candidates.map(shown).join(' | ')}); senders ignore them all, keep exactly one`,
    };
  }
  const record = candidates[0]!;
  const fields = record
    .split(';')
    .map((field) => field.trim())
    .slice(1);
  // sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep]: one trailing ";" is allowed.
  if (fields.at(-1) === '') fields.pop();
  const ids = fields.flatMap((field) => STS_ID.exec(field)?.[1] ?? []);
  const malformed = fields.find((field) => !STS_ID.test(field) && !STS_EXTENSION.test(field));
  if (malformed !== undefined) return { ok: false, problem: `record ${shown(record)}: field ${shown(malformed)} does not parse` };
  if (ids.length !== 1) {
    return {
      ok: false,
      problem: `record ${shown(record)} has ${ids.length === 0 ? 'no' : 'more than one'} id (1 to 32 letters and digits)`,
    };
  }
  return { ok: true, id: ids[0]!, record };
}

/** sts_txt and sts_txt_id: the record senders look up first, and whether its id is the served policy's. */
export async function checkStsRecord(served: ServedPolicy, environment: CheckEnvironment): Promise<[CheckResult, CheckResult]> {
  const name = `_mta-sts.${served.domain}`;
  const publish = formatZoneLine(stsTxtRecord(served.domain, served.id)).replace(/\s+/g, ' ');
  const answer = await environment.dns.txt(name);
  const record: StsRecord = answer.ok
    ? readStsRecord(answer.values)
    : { ok: false, problem: answer.kind === 'absent' ? `no TXT record at ${name}` : answer.reason };
  if (!record.ok) {
    const problem = `${record.problem}: senders see no MTA-STS policy`;
    return [
      { id: 'sts_txt', status: 'fail', message: `${problem}; publish ${publish}`, details: { name, publish } },
      {
        id: 'sts_txt_id',
        status: 'fail',
        message: `no record to compare with policy id ${served.id}`,
        details: { served_id: served.id, publish },
      },
    ];
  }
  const txt: CheckResult = {
    id: 'sts_txt',
    status: 'ok',
    message: shown(record.record),
    details: { name, record: shown(record.record) },
  };
  if (record.id === served.id) {
    return [
      txt,
      {
        id: 'sts_txt_id',
        status: 'ok',
        message: `id ${served.id} is the served policy's`,
        details: { id: record.id, served_id: served.id },
      },
    ];
  }
  return [
    txt,
    {
      id: 'sts_txt_id',
      status: 'fail',
      // RFC 8461 §3.1: senders fetch the policy again only when the id changes.
      message: `the record's id ${record.id} is not the served policy's ${served.id}: senders keep their cached policy; publish ${publish}`,
      details: { id: record.id, served_id: served.id, publish },
    },
  ];
}
