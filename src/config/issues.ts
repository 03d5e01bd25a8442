import { z } from 'zod';
import { formatPath, quote } from '../text/quote.js';

/**
 * zod issues → problems a person can act on, for every YAML file validated by a zod schema (the
 * config, the provider list). Unknown keys are named one by one, with the closest allowed key as
 * a suggestion; the allowed keys come from the schema itself, so they cannot drift from it.
 */

/** One problem in a validated file, before it is located: the field, and what is wrong with it. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  /** Whether the problem is the key itself (unknown, duplicate) or its value. */
  readonly at: 'key' | 'value';
  /** What is wrong and what is allowed; shown after `field.path: `. */
  readonly message: string;
}

/**
 * Params a schema may put on a custom issue: `at: 'key'` locates it at the key; `missing` names the
 * key whose absence it reports, so that a typo of that key is reported as the typo alone.
 */
export interface IssueParams {
  at?: 'key';
  missing?: string;
}

/**
 * How a file read once (the config, the provider list) is validated. By default zod compiles
 * each object schema into a function (`new Function`) on its first parse, which pays off only
 * for a schema parsed many times: for one parse it is a tenth of `check-config`'s run.
 */
export const PARSE_ONCE = { jitless: true } as const;

/**
 * A section that may be left out: then each of its settings takes its own default, exactly as
 * when the section is written empty. Its default is what parsing an empty mapping gives, so no
 * default is written twice (once on the field, once for the whole section).
 */
export function defaultsWhenAbsent<Section extends z.ZodType<unknown, object>>(section: Section) {
  return section.default(() => section.parse({}, PARSE_ONCE) as z.util.NoUndefined<z.output<Section>>);
}

/**
 * A mapping whose unknown keys are errors: a typo such as `nmx:` must not pass silently.
 * describeIssues names each unknown key, with the closest allowed one, from this shape.
 */
export function mapping<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key; allowed: ${allowed}`
        : issue.input === undefined
          ? `is required: a mapping with ${allowed}`
          : `${quote(issue.input)} is not a mapping; expected one with ${allowed}`,
  });
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, data: unknown): Problem[] {
  const problems: (Problem & { missing?: string })[] = [];
  // Keys the file probably meant to write (`sorce` for `source`): their absence is not reported again.
  const mistyped = new Set<string>();
  const reportUnknownKeys = (mapPath: readonly PropertyKey[], keys: readonly string[], allowed: readonly string[]) => {
    const written = valueAt(data, mapPath);
    for (const key of keys) {
      const suggestion = closestKey(key, allowed);
      if (suggestion !== undefined && !hasOwn(written, suggestion)) mistyped.add(pathKey([...mapPath, suggestion]));
      problems.push({
        path: [...mapPath, key],
        at: 'key',
        message:
          suggestion === undefined ? `unknown key; allowed: ${allowed.join(', ')}` : `unknown key; did you mean ${suggestion}?`,
      });
    }
  };

  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      reportUnknownKeys(issue.path, issue.keys, allowedKeysAt(schema, issue.path, data) ?? []);
      continue;
    }
    if (issue.code === 'invalid_union' && 'discriminator' in issue) {
      // No option matched: the mapping's keys were not checked by any of them. Check them against all.
      const mapPath = issue.path.slice(0, -1);
      const written = valueAt(data, mapPath);
      const allowed = allowedKeysAt(schema, mapPath, data) ?? [];
      if (isMapping(written))
        reportUnknownKeys(
          mapPath,
          Object.keys(written).filter((key) => !allowed.includes(key)),
          allowed,
        );
    }
    const params = (issue as { params?: IssueParams }).params;
    problems.push({
      path: issue.path,
      at: params?.at === 'key' ? 'key' : 'value',
      message: issue.message,
      ...(params?.missing !== undefined && { missing: params.missing }),
    });
  }
  return problems
    .filter(({ path, missing }) => !mistyped.has(pathKey(missing === undefined ? path : [...path, missing])))
    .map(({ path, at, message }) => ({ path, at, message }));
}

/** Problems of data that has no file positions: `source field.path: message`. */
export function unlocatedLines(problems: readonly Problem[], source: string): string[] {
  return problems.map(({ path, message }) => `${source} ${formatPath(path)}: ${message}`);
}

/**
 * The keys the schema allows in the mapping at `path`. Through a discriminated union it follows the
 * option the data chose; where the data chose none, every option's keys are allowed.
 */
function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[], data: unknown): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  let value = data;
  for (const segment of path) {
    current = current && childSchema(current, segment, value);
    value = valueAt(value, [segment]);
  }
  return current && keysOf(current, value);
}

function keysOf(schema: z.ZodType, value: unknown): string[] | undefined {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) return Object.keys(inner.shape);
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const chosen = chosenOption(inner, value);
    if (chosen) return keysOf(chosen, value);
    return [...new Set(inner.options.flatMap((option) => keysOf(option as z.ZodType, value) ?? []))];
  }
  return undefined;
}

function childSchema(schema: z.ZodType, segment: PropertyKey, value: unknown): z.ZodType | undefined {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) return (inner.shape as Record<string, z.ZodType>)[String(segment)];
  if (inner instanceof z.ZodRecord) return inner.valueType as z.ZodType;
  if (inner instanceof z.ZodArray) return inner.element as z.ZodType;
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const chosen = chosenOption(inner, value);
    if (chosen) return childSchema(chosen, segment, value);
    const holding = inner.options.find((option) => keysOf(option as z.ZodType, value)?.includes(String(segment)));
    return holding && childSchema(holding as z.ZodType, segment, value);
  }
  return undefined;
}

function chosenOption(union: z.ZodDiscriminatedUnion, value: unknown): z.ZodType | undefined {
  if (!isMapping(value)) return undefined;
  const discriminator = union.def.discriminator;
  const chosen = value[discriminator];
  return union.options.find((option) => {
    const literal = unwrap(option as z.ZodType);
    if (!(literal instanceof z.ZodObject)) return false;
    const field = unwrap((literal.shape as Record<string, z.ZodType>)[discriminator]!);
    return field instanceof z.ZodLiteral && field.values.has(chosen as never);
  }) as z.ZodType | undefined;
}

/** The schema that checks the shape, under optional, nullable, default and the input side of a transform. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
}

/** The allowed key a mistyped one most likely meant: a few edits away, case aside. */
function closestKey(key: string, allowed: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  const wanted = key.toLowerCase();
  const tolerance = Math.max(1, Math.min(3, Math.floor(wanted.length / 3)));
  let best: string | undefined;
  let bestDistance = tolerance + 1;
  for (const candidate of allowed) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const segment of path) {
    if ((!isMapping(value) && !Array.isArray(value)) || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

/** A YAML mapping as js-yaml gives it: an object that is not a list. */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hasOwn(value: unknown, key: string): boolean {
  return isMapping(value) && Object.hasOwn(value, key);
}

const pathKey = (path: readonly PropertyKey[]) => JSON.stringify(path.map(String));
