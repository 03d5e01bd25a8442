import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a V8 .cpuprofile (from the inspector's Profiler.stop) that self time needs. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the busy time: idle is left out, since a server waiting for the client is not slow. */
  pct: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: ProfileEntry[];
  areas: ProfileEntry[];
}

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Self time per function and per area (package, Node core, the service's own code) of a .cpuprofile file. */
export async function summariseProfile(path: string, top: number): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  profile.samples.forEach((id, index) => {
    // The first delta runs from Profiler.start to the first sample and is charged to the start call itself.
    if (index === 0) return;
    const frame = byId.get(id)!;
    const us = profile.timeDeltas[index] ?? 0;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    busyUs += us;
    const where = shortUrl(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${where ? `${where}:${frame.lineNumber + 1}` : '(native)'}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const area = areaOf(frame.functionName, frame.url);
    areas.set(area, (areas.get(area) ?? 0) + us);
  });
  const ranked = (totals: Map<string, number>, limit: number) =>
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: us / 1000, pct: (us / busyUs) * 100 }));
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, functions: ranked(functions, top), areas: ranked(areas, areas.size) };
}

function shortUrl(url: string): string {
  if (!url.startsWith('file://')) return url;
  const path = relative(PROJECT_ROOT, fileURLToPath(url));
  return path.replace(/^.*node_modules\//, '');
}

/** Groups frames by who owns the code: an npm package, a part of Node core, or the service. */
function areaOf(functionName: string, url: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native (crypto, TLS, syscalls)';
  if (url.startsWith('node:')) {
    const module = url.slice(5);
    if (/tls|crypto/.test(module)) return 'node: tls/crypto';
    if (/http|net|stream|_http/.test(module)) return 'node: http/net/streams';
    return 'node: events, timers, other';
  }
  const packageName = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (packageName) return `npm: ${packageName}`;
  if (url.includes('/dist/src/')) return 'service: src/';
  return 'other JS';
}
