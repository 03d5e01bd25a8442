const { writeSync } = process.getBuiltinModule('node:fs');

/**
 * How log lines reach stdout (the config's log.buffer_bytes and log.flush_interval_ms): `bytes` 0
 * writes each line as it is logged; more gathers lines into writes of that size, each line at most
 * `flushIntervalMs` late.
 */
export interface LogBuffer {
  bytes: number;
  flushIntervalMs: number;
}

/** How long a write waits for a full pipe (the log reader behind) before it tries again. */
const FULL_PIPE_WAIT_MS = 1;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Buffered writers, written out when the process exits (a stop, an uncaught error; not `kill -9`). */
const buffered = new Set<LogWriter>();
process.on('exit', () => {
  for (const writer of buffered) writer.flushSync();
});

/** Room past `bytes` for the line that reaches it: a line longer than this is written out on its own. */
const LINE_ROOM_BYTES = 64 * 1024;
/** UTF-8 takes at most 3 bytes for each UTF-16 code unit (4 for a surrogate pair's 2). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * pino's destination for the service log: lines written synchronously to a file descriptor, each
 * as it comes or gathered into writes of `bytes`. Gathered lines are encoded into one buffer as
 * they come, while each is fresh: pino's own sonic-boom measures its whole buffer again for every
 * line it adds (8–10 µs a line with a 64 KiB buffer, more than building the line), and joining
 * them as one string left 64 KiB of pieces to walk and encode at each write (about 1.4 µs a line).
 */
export class LogWriter {
  /** Buffered: the lines gathered since the last write, UTF-8, in gathered[0, used). */
  private readonly gathered: Buffer | undefined;
  private used = 0;
  private readonly sources: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly buffer: LogBuffer,
  ) {
    if (buffer.bytes === 0) return;
    this.gathered = Buffer.allocUnsafe(buffer.bytes + LINE_ROOM_BYTES);
    // For the life of the process, as the writer is: unref'd, it keeps no process alive.
    setInterval(() => this.flushSync(), buffer.flushIntervalMs).unref();
    buffered.add(this);
  }

  /** Whether lines are gathered (log.buffer_bytes above 0) rather than written as they come. */
  get buffered(): boolean {
    return this.gathered !== undefined;
  }

  /**
   * Lines another part holds back for this writer (the fetch pipeline's batch) are handed over,
   * by calling `source`, before every write-out: a full buffer, the interval, a flush, the exit.
   */
  gatherFrom(source: () => void): void {
    this.sources.push(source);
  }

  write(line: string): boolean {
    const gathered = this.gathered;
    if (gathered === undefined) {
      this.writeOut(line);
      return true;
    }
    if (line.length * MAX_UTF8_BYTES_PER_UNIT > gathered.length - this.used) {
      // It might not fit: what is gathered goes first, and a line too long for the room after it is written on its own.
      this.flushSync();
      if (line.length * MAX_UTF8_BYTES_PER_UNIT > gathered.length) {
        this.writeOut(line);
        return true;
      }
    }
    this.used += gathered.write(line, this.used);
    if (this.used >= this.buffer.bytes) this.flushSync();
    return true;
  }

  /** Writes out what is gathered, now. */
  flushSync(): void {
    // A source's lines may fill the buffer and write out from within: the rest follows here.
    for (const source of this.sources) source();
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    this.writeBytes(this.gathered!, 0, used);
  }

  /** pino's logger.flush(callback): written out before the callback. */
  flush(callback?: (error?: Error) => void): void {
    this.flushSync();
    callback?.();
  }

  /**
   * The whole text, however many writes it takes: a pipe whose reader is behind (`docker logs`)
   * takes part of it or none (EAGAIN), and the rest waits for room rather than being dropped.
   * A log that cannot be written at all (stdout closed: EPIPE) loses the text; the service goes on.
   */
  private writeOut(text: string): void {
    let written = 0;
    try {
      written = writeSync(this.fd, text);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
    // One write(2) takes the whole of a line, or of a buffer that fits the pipe: the common case.
    if (written < Buffer.byteLength(text)) this.writeBytes(Buffer.from(text), written);
  }

  /** bytes[from, to), however many writes it takes (as writeOut). */
  private writeBytes(bytes: Buffer, from: number, to = bytes.length): void {
    for (let offset = from; offset < to;) {
      try {
        offset += writeSync(this.fd, bytes, offset, to - offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        Atomics.wait(pause, 0, 0, FULL_PIPE_WAIT_MS);
      }
    }
  }
}
