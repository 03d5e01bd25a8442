import assert from 'node:assert/strict';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { JsonLogProcess } from '../support/json-log-process.js';
import { NetworkNamespace } from '../support/network-namespace.js';
import { reportMessage, rfcExampleReport } from '../support/tls-reports.js';

/*
 * The container image, run without Docker: this test reads the Dockerfile's final stage and
 * reproduces what `docker run` would do with it — the image's files, its ENV, its USER, its
 * ENTRYPOINT + CMD as PID 1 of a fresh PID namespace, inside a network namespace where (as Docker
 * does) net.ipv4.ip_unprivileged_port_start=0 lets the non-root user bind 80 and 443.
 *
 * The image's file system is stood in for by a temporary folder, ROOT. Paths the image uses are
 * mapped by prefixing ROOT, and only for the image's own folders (WORKDIR, the VOLUME, the config
 * folder), so the mapping stays small and visible:
 *   /app (WORKDIR)             -> ROOT/app, filled by the final stage's COPY instructions
 *   /etc/mta-sts (config)      -> ROOT/etc/mta-sts, root-owned like a read-only config mount
 *   /var/lib/mta-sts (VOLUME)  -> ROOT/var/lib/mta-sts, owned by USER like the image's chown
 * Two parts of the image cannot be reproduced here, so the test stands in for them explicitly:
 * the build stage's node_modules after its RUN `npm prune --omit=dev` (it copies the production
 * packages of package-lock.json from this checkout's node_modules, native module built) and the
 * image's `node` (the node running this test, first on PATH).
 * Because the image's files are staged this way, this checkout itself need not be readable by USER.
 */

const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
// Docker's default PATH, which the node image keeps; this test's node goes in front of it.
const DOCKER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HTTPS_PORT = 443;
/** The receiver of TLS reports by mail (reports.smtp), when enabled. */
const SMTP_PORT = 25;
const HTTP_PORT = 80;
const POLICY_HOST = 'mta-sts.example.com';
// RFC 8461 §3.2, written out by hand so that the test does not share the renderer it checks.
const EXPECTED_POLICY = 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n';
// How long the entrypoint may take to start listening; key generation is the slow part.
const START_TIMEOUT_MS = 30_000;
// What `docker stop` allows by default before SIGKILL, and what serve promises to stay within.
const STOP_TIMEOUT_MS = 10_000;

// ---- the Dockerfile, as far as running the final stage needs it ----

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string | undefined;
  instructions: Instruction[];
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

/** What a RUN instruction of the final stage leaves in the image that the service relies on. */
interface RunEffects {
  /** `ln -s target link` */
  links: { target: string; link: string }[];
  /** `chmod mode path` */
  modes: { path: string; mode: number }[];
}

interface Image extends RunEffects {
  workdir: string;
  copies: Copy[];
  env: Record<string, string>;
  user: { uid: number; gid: number };
  volumes: string[];
  expose: number[];
  healthcheck: { command: string[]; timeoutMs: number };
  entrypoint: string[];
  cmd: string[];
}

/** Logical lines: comments dropped (also inside a continued instruction, as Docker does), `\` continuations joined. */
function readStages(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, ' ');
      continue;
    }
    const match = /^\s*(\S+)\s*(.*?)\s*$/.exec(pending + line);
    pending = '';
    if (!match) continue;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]! };
    if (instruction.keyword === 'FROM') {
      const from = /^\S+(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!from) throw new Error(`FROM ${instruction.args}: only "FROM image [AS name]" is understood here`);
      stages.push({ name: from[1], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

function execForm(keyword: string, args: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((item) => typeof item === 'string')) {
    throw new Error(
      `${keyword} ${args}: use the exec (JSON array) form; the shell form would put /bin/sh in front of node as PID 1`,
    );
  }
  return parsed;
}

/**
 * A final-stage RUN: commands joined by &&. `ln -s` and `chmod` are reproduced; `mkdir -p`,
 * `chown` and `test` make and check the config and state folders, which the test makes itself.
 */
function readRun(args: string, effects: RunEffects): void {
  for (const command of args.split('&&').map((part) => part.trim())) {
    const link = /^ln -s (\/\S+) (\/\S+)$/.exec(command);
    const mode = /^chmod ([0-7]{3,4}) (\/\S+)$/.exec(command);
    if (link) effects.links.push({ target: link[1]!, link: link[2]! });
    else if (mode) effects.modes.push({ path: mode[2]!, mode: parseInt(mode[1]!, 8) });
    else if (!['mkdir', 'chown', 'test'].includes(command.split(/\s+/)[0]!)) {
      throw new Error(
        `RUN ${command}: this test reproduces ln -s TARGET LINK and chmod MODE PATH (absolute paths); teach it this one`,
      );
    }
  }
}

function envPairs(args: string): [string, string][] {
  const pair = /([A-Za-z_]\w*)=(?:"([^"\\$]*)"|([^\s"'\\$]*))(?:\s+|$)/y;
  const pairs: [string, string][] = [];
  for (let match = pair.exec(args); match; match = pair.lastIndex < args.length ? pair.exec(args) : null) {
    pairs.push([match[1]!, match[2] ?? match[3]!]);
  }
  if (pair.lastIndex !== args.length)
    throw new Error(`ENV ${args}: only KEY=value pairs without $ or escapes are understood here`);
  return pairs;
}

function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(value);
  if (!match) throw new Error(`duration ${value}: only a number with ms, s or m is understood here`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

/** The final stage, strictly: an instruction this reader does not know how to reproduce fails the test. */
function finalImage(stages: Stage[]): Image {
  const stage = stages.at(-1);
  if (!stage) throw new Error('the Dockerfile has no FROM');
  const image: Partial<Image> & Pick<Image, 'copies' | 'env' | 'volumes' | 'expose' | 'links' | 'modes'> = {
    copies: [],
    env: {},
    volumes: [],
    expose: [],
    links: [],
    modes: [],
  };
  for (const { keyword, args } of stage.instructions) {
    switch (keyword) {
      case 'WORKDIR':
        if (!args.startsWith('/')) throw new Error(`WORKDIR ${args}: give an absolute path`);
        image.workdir = args;
        break;
      case 'COPY': {
        const words = args.split(/\s+/);
        const from = words[0]!.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        if (words.some((word) => word.startsWith('-')) || words.length < 2) {
          throw new Error(`COPY ${args}: only "COPY [--from=stage] source... dest" is reproduced here`);
        }
        image.copies.push({ from, sources: words.slice(0, -1), dest: words.at(-1)! });
        break;
      }
      case 'RUN':
        readRun(args, image);
        break;
      case 'ENV':
        for (const [key, value] of envPairs(args)) image.env[key] = value;
        break;
      case 'USER': {
        const user = /^(\d+):(\d+)$/.exec(args);
        if (!user) throw new Error(`USER ${args}: give uid:gid numerically`);
        image.user = { uid: Number(user[1]), gid: Number(user[2]) };
        break;
      }
      case 'VOLUME':
        image.volumes.push(...(args.startsWith('[') ? execForm(keyword, args) : args.split(/\s+/)));
        break;
      case 'EXPOSE':
        for (const port of args.split(/\s+/)) {
          const match = /^(\d+)(?:\/tcp)?$/.exec(port);
          if (!match) throw new Error(`EXPOSE ${port}: only TCP ports are expected`);
          image.expose.push(Number(match[1]));
        }
        break;
      case 'HEALTHCHECK': {
        const match = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(\[.*\])$/.exec(args);
        if (!match) throw new Error(`HEALTHCHECK ${args}: expected [--option=value...] CMD [exec form]`);
        const timeout = /--timeout=(\S+)/.exec(match[1]!)?.[1];
        // Docker's default timeout is 30 s.
        image.healthcheck = { command: execForm(keyword, match[2]!), timeoutMs: timeout ? durationMs(timeout) : 30_000 };
        break;
      }
      case 'ENTRYPOINT':
        image.entrypoint = execForm(keyword, args);
        break;
      case 'CMD':
        image.cmd = execForm(keyword, args);
        break;
      default:
        throw new Error(`${keyword} in the final stage: this test does not reproduce it; teach it what it changes at run time`);
    }
  }
  const { workdir, user, healthcheck, entrypoint, cmd } = image;
  // The base image has its own ENTRYPOINT and CMD; the final stage must set both, or they would apply.
  if (!workdir || !user || !healthcheck || !entrypoint || !cmd) {
    throw new Error('the final stage needs WORKDIR, USER, HEALTHCHECK, ENTRYPOINT and CMD');
  }
  return { ...image, workdir, user, healthcheck, entrypoint, cmd };
}

// ---- running things inside the network namespace ----

interface Finished {
  /** null when the command was killed, e.g. at its timeout. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `command args...` in the namespace, to its end. */
function run(
  netns: NetworkNamespace,
  [command, ...args]: string[],
  options: { env: NodeJS.ProcessEnv; timeoutMs: number; cwd?: string },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = netns.spawn(command!, args, {
      env: options.env,
      cwd: options.cwd,
      timeout: options.timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The pids of `pid`'s children: the entrypoint is the only child of `unshare --fork`. */
async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
}

/** Uid: or Gid: of /proc/<pid>/status — real, effective, saved and filesystem ids. */
function statusIds(status: string, field: 'Uid' | 'Gid'): number[] {
  const line = new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(status);
  assert.ok(line, `no ${field} line in /proc status`);
  return line[1]!.trim().split(/\s+/).map(Number);
}

// A plain HTTPS client in the namespace that trusts only the given CA file.
const HTTPS_GET = `
const [host, port, caFile] = process.argv.slice(1);
const request = require('node:https').get(
  { host: '127.0.0.1', port: Number(port), path: '/.well-known/mta-sts.txt', servername: host, headers: { host },
    ca: require('node:fs').readFileSync(caFile), agent: false },
  (res) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => process.stdout.write(JSON.stringify({
      status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks).toString('base64') })));
  });
request.on('error', (error) => { process.stderr.write(String(error)); process.exit(1); });
`;

describe('the container image, run as its Dockerfile says (without Docker)', () => {
  let image: Image;
  let root: string | undefined;
  let netns: NetworkNamespace | undefined;
  let service: JsonLogProcess | undefined;
  let entrypointPid: number;
  let env: NodeJS.ProcessEnv;
  let stateDir: string;
  let caFile: string;
  let asUser: string[];

  /** The image's path on this machine: under ROOT for the image's own folders, unchanged otherwise. */
  let toHost: (path: string) => string;

  const healthcheck = () =>
    run(netns!, [...asUser, ...image.healthcheck.command.map((arg) => toHost(arg))], {
      env,
      timeoutMs: image.healthcheck.timeoutMs,
    });

  before(async () => {
    assert.equal(
      process.getuid?.(),
      0,
      "the container emulation needs root: it gives the state volume to the image's USER (chown) and runs the " +
        'entrypoint as that user (setpriv), which no other user may do (CI runs as root; locally: sudo npm run test:e2e)',
    );
    const stages = readStages(await readFile(join(PROJECT, 'Dockerfile'), 'utf8'));
    image = finalImage(stages);
    const configPath = image.env.MTA_STS_CONFIG;
    assert.ok(configPath, 'the Dockerfile sets ENV MTA_STS_CONFIG');
    assert.equal(image.volumes.length, 1, 'one VOLUME, the state directory');
    const stateVolume = image.volumes[0]!;
    // The folders the image's symlinks live in (/usr/local/bin) are the image's too: on its PATH.
    const imageFolders = [
      image.workdir,
      stateVolume,
      posix.dirname(configPath),
      ...image.links.map(({ link }) => posix.dirname(link)),
    ];

    root = await mkdtemp(join(tmpdir(), 'mta-sts-container-'));
    // mkdtemp makes it 0700; the image's / is traversable by everyone, the USER included.
    await chmod(root, 0o755);
    const rootDir = root;
    toHost = (path) =>
      imageFolders.some((folder) => path === folder || path.startsWith(`${folder}/`)) ? join(rootDir, path) : path;

    await stageImageFiles(stages, image, toHost(image.workdir));
    for (const { path, mode } of image.modes) await chmod(toHost(path), mode);
    for (const { target, link } of image.links) {
      await mkdir(dirname(toHost(link)), { recursive: true });
      await symlink(toHost(target), toHost(link));
    }
    stateDir = toHost(stateVolume);
    await mkdir(stateDir, { recursive: true });
    await chown(stateDir, image.user.uid, image.user.gid);
    caFile = join(stateDir, 'self-signed', 'ca.pem');
    const hostConfigPath = toHost(configPath);
    await mkdir(dirname(hostConfigPath), { recursive: true });
    await writeFile(
      hostConfigPath,
      [
        'domains:',
        '  example.com:',
        '    mode: enforce',
        '    mx: [mail.example.com, "*.mx.example.com"]',
        '    max_age: 86400',
        `listen: { address: "::", https: ${HTTPS_PORT}, http: ${HTTP_PORT} }`,
        'tls: { source: self-signed }',
        // The path as a user would write it in the container is the VOLUME; here, its stand-in.
        `state_dir: ${toHost(stateVolume)}`,
        'log: { level: info }',
        // The receiver of TLS reports by mail, on the port the image EXPOSEs.
        `reports: { smtp: { enabled: true, address: "::", port: ${SMTP_PORT} } }`,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );

    // The image's PATH, its own folders (/usr/local/bin) staged under ROOT; this test's node first.
    env = { PATH: [dirname(process.execPath), ...DOCKER_PATH.split(':').map((folder) => toHost(folder))].join(':') };
    for (const [key, value] of Object.entries(image.env)) env[key] = toHost(value);
    asUser = ['setpriv', `--reuid=${image.user.uid}`, `--regid=${image.user.gid}`, '--clear-groups'];

    netns = await NetworkNamespace.create();
    // What Docker (20.10+) sets in every container's network namespace; the host keeps 1024.
    netns.execFileSync('sysctl', ['-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0'], { encoding: 'utf8' });

    const command = [...image.entrypoint, ...image.cmd].map((arg) => toHost(arg));
    // unshare --pid --fork: the entrypoint runs as PID 1, where a signal without a handler is
    // ignored — the reason `docker stop` hangs for images whose PID 1 does not handle SIGTERM.
    // --kill-child: should unshare be killed, the entrypoint goes with it.
    const child = netns.spawn('unshare', ['--pid', '--fork', '--kill-child', ...asUser, ...command], {
      env,
      cwd: toHost(image.workdir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service = new JsonLogProcess(child);
    await service.waitForEvent('service_started', START_TIMEOUT_MS);
    const pids = await childPids(child.pid!);
    assert.equal(pids.length, 1, `unshare has one child, the entrypoint (found ${pids.join(', ')})`);
    entrypointPid = pids[0]!;
  });

  after(async () => {
    try {
      if (service?.running) {
        // SIGKILL reaches a namespace's PID 1 from outside (no other signal does without a
        // handler); unshare exits once its child has, and is killed too in case it has none.
        for (const pid of await childPids(service.child.pid!)) process.kill(pid, 'SIGKILL');
        await service.kill();
      }
    } finally {
      await netns?.close();
      if (root) await rm(root, { recursive: true, force: true });
    }
  });

  it('declares the production ports, a non-root USER and the config path', () => {
    assert.deepEqual(
      [...image.expose].sort((a, b) => a - b),
      [SMTP_PORT, HTTP_PORT, HTTPS_PORT],
    );
    assert.notEqual(image.user.uid, 0);
    assert.notEqual(image.user.gid, 0);
    assert.equal(image.env.MTA_STS_CONFIG, '/etc/mta-sts/mta-sts.yaml');
  });

  it('runs the entrypoint as USER, not root, listening on 443, 80 and 25 (metrics on loopback)', async () => {
    const status = await readFile(`/proc/${entrypointPid}/status`, 'utf8');
    const { uid, gid } = image.user;
    assert.deepEqual(statusIds(status, 'Uid'), [uid, uid, uid, uid]);
    assert.deepEqual(statusIds(status, 'Gid'), [gid, gid, gid, gid]);
    // ss -p names the process owning each listening socket; only the entrypoint's count.
    const sockets = netns!.execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' });
    const listening = sockets
      .split('\n')
      .filter((line) => line.includes(`pid=${entrypointPid},`))
      .map((line) => line.split(/\s+/)[3]!);
    // The policy and SMTP ports on every address; the metrics (admin) listener on loopback only, its default.
    assert.deepEqual(listening.sort(), [`*:${HTTP_PORT}`, `*:${HTTPS_PORT}`, `*:${SMTP_PORT}`, '127.0.0.1:9464'].sort());
  });

  it('passes its HEALTHCHECK, run as USER inside the namespace', async () => {
    const result = await healthcheck();
    assert.equal(result.code, 0, `healthcheck failed: ${result.stderr}`);
  });

  it('serves the exact policy on 443 to mta-sts.<domain>, with a certificate from its CA', async () => {
    const result = await run(netns!, [process.execPath, '-e', HTTPS_GET, POLICY_HOST, String(HTTPS_PORT), caFile], {
      env,
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 0, `HTTPS GET failed: ${result.stderr}`);
    const response = JSON.parse(result.stdout) as { status: number; type: string; body: string };
    assert.equal(response.status, 200);
    assert.equal(response.type, 'text/plain; charset=utf-8');
    assert.equal(Buffer.from(response.body, 'base64').toString('latin1'), EXPECTED_POLICY);
  });

  it('receives a TLS report by mail on 25 (swaks, STARTTLS verified for mta-sts.<domain>) and stores it', async () => {
    const message = join(root!, 'report.eml');
    await writeFile(message, reportMessage(rfcExampleReport({ domain: 'example.com', reportId: 'container-report' })));
    const tls = ['--tls', '--tls-verify', '--tls-ca-path', caFile, '--tls-sni', POLICY_HOST];
    const envelope = ['--from', 'noreply@reporter.example', '--to', `tlsrpt@${POLICY_HOST}`];
    const swaks = ['swaks', '--server', '127.0.0.1', '--port', String(SMTP_PORT), ...envelope, ...tls, '--data', `@${message}`];
    const result = await run(netns!, swaks, { env, timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /<~ +250 2\.6\.0 report stored/);
    const stored = await service!.waitFor('tlsrpt_report', (line) => line.event === 'tlsrpt_report', 10_000);
    assert.deepEqual([stored.via, stored.report_id], ['smtp', 'container-report']);
  });

  it('keeps its state in the VOLUME, owned by USER, private keys at mode 0600, statistics in mta-sts.db', async () => {
    const entries = await readdir(stateDir, { recursive: true });
    assert.ok(entries.length > 0, 'the state directory is empty');
    let privateKeys = 0;
    for (const entry of entries) {
      const path = join(stateDir, entry);
      const info = await lstat(path);
      assert.equal(info.uid, image.user.uid, `${entry} owner`);
      assert.equal(info.gid, image.user.gid, `${entry} group`);
      if (info.isFile() && (await readFile(path, 'utf8')).includes('PRIVATE KEY-----')) {
        privateKeys++;
        assert.equal((info.mode & 0o777).toString(8), '600', `${entry} mode`);
      }
    }
    assert.ok(privateKeys > 0, 'no private key found in the state directory');
    // The statistics database: the native module loads in the image and USER can create it.
    assert.ok(entries.includes('mta-sts.db'), `no statistics database among ${entries.join(', ')}`);
  });

  it('has mta-sts-server on PATH: `docker exec mta-sts mta-sts-server stats` runs as USER and reads the state', async () => {
    const link = image.links.find(({ link: path }) => posix.basename(path) === 'mta-sts-server');
    assert.ok(link, 'no RUN ln -s ... /usr/local/bin/mta-sts-server in the final stage');
    assert.ok(DOCKER_PATH.split(':').includes(posix.dirname(link.link)), `${link.link} is not on the image's PATH`);
    // docker exec: the image's ENV and USER, the WORKDIR, the command looked up on PATH.
    const exec = (...args: string[]) =>
      run(netns!, [...asUser, 'mta-sts-server', ...args], { env, cwd: toHost(image.workdir), timeoutMs: 20_000 });
    const stats = await exec('stats');
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^Policy fetches from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(UTC days\)\n/);
    const check = await exec('check-config');
    assert.deepEqual(check, { code: 0, stdout: `${env.MTA_STS_CONFIG}: ok, 1 domain\n`, stderr: '' });
  });

  it('exits 0 within 10 s of SIGTERM to PID 1, after which the HEALTHCHECK fails', async () => {
    process.kill(entrypointPid, 'SIGTERM');
    const exit = await Promise.race([service!.exited, sleep(STOP_TIMEOUT_MS, undefined, { ref: false })]);
    assert.ok(exit, `still running ${STOP_TIMEOUT_MS} ms after SIGTERM`);
    // unshare --fork exits with its child's status.
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${service!.stderr}`);
    const result = await healthcheck();
    assert.notEqual(result.code, 0, 'the healthcheck passes with the service stopped');
  });
});

/**
 * Fills the image's WORKDIR as the final stage's COPY instructions do: sources from the build
 * context are this checkout; sources from an earlier stage are this checkout too, relative to
 * that stage's WORKDIR, because the build stage is this project after `npm ci` and `npm run build`.
 */
async function stageImageFiles(stages: Stage[], image: Image, workdir: string): Promise<void> {
  for (const copy of image.copies) {
    const base = copy.from === undefined ? '' : stageWorkdir(stages, copy.from);
    const destIsFolder = copy.sources.length > 1 || copy.dest.endsWith('/');
    const dest = join(workdir, copy.dest);
    for (const source of copy.sources) {
      if (copy.from !== undefined && !source.startsWith(`${base}/`)) {
        throw new Error(`COPY --from=${copy.from} ${source}: expected a path under that stage's WORKDIR ${base}`);
      }
      if (copy.from !== undefined && source === `${base}/node_modules`) {
        await stageProductionPackages(stages, copy.from, dest);
        continue;
      }
      const local = join(PROJECT, copy.from === undefined ? source : source.slice(base.length + 1));
      // A folder's contents are copied into dest; a file goes into dest/ or becomes dest.
      const target = (await stat(local)).isDirectory() || !destIsFolder ? dest : join(dest, basename(source));
      await cp(local, target, { recursive: true });
      if (copy.from !== undefined) await modesOfAFreshBuild(target);
    }
  }
}

/**
 * A build stage writes its output with the modes of a fresh build (umask 022: files 0644,
 * folders 0755), whatever modes this checkout's copy has gained since (`npm link` makes the CLI's
 * entry point executable): the image must not depend on them.
 */
async function modesOfAFreshBuild(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isSymbolicLink()) return;
  await chmod(path, info.isDirectory() ? 0o755 : 0o644);
  if (info.isDirectory()) for (const entry of await readdir(path)) await modesOfAFreshBuild(join(path, entry));
}

/**
 * Stand-in for a stage's node_modules after `npm prune --omit=dev`: exactly the lock file's
 * non-dev packages, each without its nested node_modules (those are separate lock entries when
 * they are needed).
 */
async function stageProductionPackages(stages: Stage[], stageName: string, dest: string): Promise<void> {
  const stage = stages.find((candidate) => candidate.name === stageName)!;
  const runs = stage.instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);
  if (!runs.some((command) => /\bnpm (?:prune|ci)\b.*--omit=dev\b/.test(command))) {
    throw new Error(
      `COPY --from=${stageName} node_modules: that stage has no RUN npm prune --omit=dev, which this test stands in for`,
    );
  }
  const lock = JSON.parse(await readFile(join(PROJECT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev) continue;
    const source = join(PROJECT, path);
    const present = await stat(source).then(
      () => true,
      () => false,
    );
    // Optional packages for other platforms are in the lock file but not installed.
    if (!present && entry.optional) continue;
    await cp(source, join(dest, path.slice('node_modules/'.length)), {
      recursive: true,
      filter: (item) => item !== join(source, 'node_modules'),
    });
  }
}

function stageWorkdir(stages: Stage[], name: string): string {
  const stage = stages.find((candidate) => candidate.name === name);
  if (!stage) throw new Error(`COPY --from=${name}: no stage of that name`);
  const workdir = stage.instructions.filter((instruction) => instruction.keyword === 'WORKDIR').at(-1)?.args;
  if (!workdir?.startsWith('/')) throw new Error(`stage ${name} needs an absolute WORKDIR`);
  return workdir;
}
