import {
  execFileSync,
  spawn,
  type ChildProcess,
  type ExecFileSyncOptionsWithStringEncoding,
  type SpawnOptions,
} from 'node:child_process';

/**
 * A network namespace of the test's own, with loopback up: ports 80 and 443 are free in it, and
 * nothing run in it reaches the host's network. As root it is a plain network namespace. As any
 * other user it comes with a user namespace in which that user is root (`unshare --user
 * --map-root-user`, allowed without privileges on most distributions), which is enough to bind
 * 80 and 443 in it; only switching to another user (setpriv) needs real root.
 *
 * The namespace is held by a `cat` reading a pipe from this process: when the test process
 * ends, however it ends, the pipe closes, `cat` exits, and the namespace goes once nothing else
 * runs in it. Commands join it with `nsenter`. Needs util-linux (unshare, nsenter) and iproute2 (ip).
 */
export class NetworkNamespace {
  private readonly exited: Promise<void>;

  private constructor(
    private readonly holder: ChildProcess,
    private readonly ownUserNamespace: boolean,
  ) {
    this.exited = new Promise((resolve) => holder.once('close', () => resolve()));
  }

  static async create(): Promise<NetworkNamespace> {
    const asRoot = process.getuid?.() === 0;
    const holder = spawn(
      'unshare',
      [...(asRoot ? [] : ['--user', '--map-root-user']), '--net', 'sh', '-c', 'ip link set lo up && echo up && exec cat'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    holder.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const up = await new Promise<boolean>((resolve) => {
      holder.stdout!.once('data', () => resolve(true));
      holder.once('error', (error) => ((stderr += error.message), resolve(false)));
      holder.once('close', () => resolve(false));
    });
    if (!up) {
      const unprivileged = asRoot
        ? ''
        : '; without root, also user namespaces open to unprivileged users (kernel.unprivileged_userns_clone=1 on older ' +
          'Debian, kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04 and later), or run it as root';
      throw new Error(
        `this test needs a network namespace of its own and could not make one (${stderr.trim()}): ` +
          `it needs unshare and nsenter (util-linux) and ip (iproute2)${unprivileged}`,
      );
    }
    return new NetworkNamespace(holder, !asRoot);
  }

  /** `command` with `args`, inside the namespace. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('nsenter', this.nsenterArgs(command, args), options);
  }

  execFileSync(command: string, args: readonly string[], options: ExecFileSyncOptionsWithStringEncoding): string {
    return execFileSync('nsenter', this.nsenterArgs(command, args), options);
  }

  /** Ends the holder; the namespace goes with the last process in it. */
  async close(): Promise<void> {
    this.holder.stdin!.end();
    await this.exited;
  }

  private nsenterArgs(command: string, args: readonly string[]): string[] {
    // --preserve-credentials: a user namespace made by an unprivileged user cannot set groups.
    const user = this.ownUserNamespace ? ['--user', '--preserve-credentials'] : [];
    return ['--target', String(this.holder.pid), ...user, '--net', '--', command, ...args];
  }
}
