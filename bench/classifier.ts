import { readFile } from 'node:fs/promises';
import jsYaml from 'js-yaml';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../src/fetches/providers.js';

export const GENERATED_RANGES = 65_536;
const INPUTS = 4_096;
const SLICE_MS = 500;
const SLICES_EACH = 3;

export interface ClassifierResult {
  shippedRanges: number;
  generatedRanges: number;
  generatedLoadMs: number;
  shippedLookupsPerSecond: number;
  generatedLookupsPerSecond: number;
  /** generated / shipped lookups per second; 1 would mean the table size costs nothing. */
  ratio: number;
}

interface ProvidersFile {
  providers: Record<string, { name: string; user_agents: string[]; ranges: string[] }>;
}

/** config/providers.yaml as parsed YAML, with its ranges and user-agent patterns listed. */
export async function readShippedProviders(): Promise<{ data: ProvidersFile; ranges: string[]; userAgents: string[] }> {
  const data = jsYaml.load(await readFile(SHIPPED_PROVIDERS_FILE, 'utf8'), { schema: jsYaml.CORE_SCHEMA }) as ProvidersFile;
  const entries = Object.values(data.providers);
  return { data, ranges: entries.flatMap((entry) => entry.ranges), userAgents: entries.flatMap((entry) => entry.user_agents) };
}

/**
 * Lookups per second of ProviderClassifier.classify with the shipped provider list and with the
 * same list plus 65 536 generated ranges; both see the same addresses and user agents.
 */
export async function runClassifierBench(): Promise<ClassifierResult> {
  const { data: shippedData, ranges: shippedList } = await readShippedProviders();
  const shipped = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);

  const random = mulberry32(0x5eed);
  const generated = generateRanges(new Set(shippedList), random);
  const loading = performance.now();
  const large = ProviderClassifier.fromData(
    { providers: { ...shippedData.providers, hosting: { name: 'Generated ranges', user_agents: [], ranges: generated } } },
    'generated providers',
  );
  const generatedLoadMs = performance.now() - loading;

  const inputs = lookupInputs(shippedList, generated, random);
  const rates = { shipped: [] as number[], large: [] as number[] };
  // Interleaved, best of each: a slice disturbed by GC or another process does not decide the ratio.
  for (let slice = 0; slice < SLICES_EACH; slice++) {
    rates.shipped.push(lookupsPerSecond(shipped, inputs));
    rates.large.push(lookupsPerSecond(large, inputs));
  }
  const shippedLookupsPerSecond = Math.max(...rates.shipped);
  const generatedLookupsPerSecond = Math.max(...rates.large);
  return {
    shippedRanges: shippedList.length,
    generatedRanges: shippedList.length + generated.length,
    generatedLoadMs,
    shippedLookupsPerSecond,
    generatedLookupsPerSecond,
    ratio: generatedLookupsPerSecond / shippedLookupsPerSecond,
  };
}

function lookupsPerSecond(classifier: ProviderClassifier, inputs: readonly { ip: string; ua: string }[]): number {
  let lookups = 0;
  // Consumed below so the lookups cannot be optimised away.
  let sink = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < SLICE_MS) {
    for (const { ip, ua } of inputs) sink += classifier.classify(ip, ua).provider.length;
    lookups += inputs.length;
    elapsed = performance.now() - started;
  }
  if (sink === 0) throw new Error('no lookup returned a provider');
  return lookups / (elapsed / 1000);
}

/** Distinct IPv4 /24 and IPv6 /48 ranges spread over the address space, none equal to a shipped range. */
function generateRanges(shipped: ReadonlySet<string>, random: () => number): string[] {
  const ranges = new Set<string>();
  while (ranges.size < GENERATED_RANGES) {
    const value = Math.floor(random() * 2 ** 32);
    const range =
      ranges.size % 2 === 0
        ? `${1 + ((value >>> 24) % 223)}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.0/24`
        : `2${((value >>> 28) & 7).toString(16)}${((value >>> 20) & 255).toString(16).padStart(2, '0')}:${((value >>> 4) & 0xffff).toString(16)}:${(value & 15).toString(16)}::/48`;
    if (!shipped.has(range)) ranges.add(range);
  }
  return [...ranges];
}

/** A third inside shipped ranges, a third inside generated ones, a third anywhere; user agents of every kind. */
function lookupInputs(
  shipped: readonly string[],
  generated: readonly string[],
  random: () => number,
): { ip: string; ua: string }[] {
  const agents = ['Google-SMTP-STS', '', 'AHC/2.1', 'Mozilla/5.0 (compatible; mta-sts-checker)'];
  return Array.from({ length: INPUTS }, (_, index) => {
    const pick = (list: readonly string[]) => list[Math.floor(random() * list.length)]!;
    const source =
      index % 3 === 0 ? pick(shipped) : index % 3 === 1 ? pick(generated) : random() < 0.5 ? '0.0.0.0/0' : '2000::/3';
    return { ip: addressIn(source, random), ua: agents[index % agents.length]! };
  });
}

/** An address inside a range: the range's network with its last bits randomised. */
function addressIn(cidr: string, random: () => number): string {
  const [network = ''] = cidr.split('/');
  if (network.includes('.')) {
    const octets = network.split('.').map(Number);
    if (cidr.endsWith('/0')) return Array.from({ length: 4 }, () => Math.floor(random() * 256)).join('.');
    octets[3] = Math.floor(random() * 256);
    return octets.join('.');
  }
  const random16 = () => Math.floor(random() * 0x10000).toString(16);
  const head = network.replace(/::$/, '').split(':');
  const groups = cidr.endsWith('/3') ? [(0x2000 + Math.floor(random() * 0x2000)).toString(16)] : head;
  while (groups.length < 8) groups.push(random16());
  return groups.join(':');
}

/** A small seeded generator: every run looks up the same addresses. */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
