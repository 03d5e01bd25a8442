import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogWriter } from '../src/log/log-writer.js';
import { scratchFile } from './support/scratch-file.js';

// The service log's writer on real file descriptors: a file, and a pipe whose reader is behind,
// as `docker logs` can be.

const LINE = (n: number) => `{"n":${n},"ua":"ünïcödé ☃ 🚀 ${'x'.repeat(150)}"}\n`;

test('buffered: nothing is written before buffer_bytes, then all of it in one go; flushSync writes the rest', async () => {
  const { path, fd } = await scratchFile();
  try {
    const writer = new LogWriter(fd, { bytes: 4096, flushIntervalMs: 60_000 });
    const fitting = Math.floor(4096 / Buffer.byteLength(LINE(0)));
    for (let n = 0; n < fitting; n++) writer.write(LINE(n));
    assert.equal(readFileSync(path, 'utf8'), '');
    writer.write(LINE(fitting));
    const expected = Array.from({ length: fitting + 1 }, (_, n) => LINE(n)).join('');
    assert.equal(readFileSync(path, 'utf8'), expected);
    writer.write(LINE(fitting + 1));
    assert.equal(readFileSync(path, 'utf8'), expected);
    writer.flushSync();
    assert.equal(readFileSync(path, 'utf8'), expected + LINE(fitting + 1));
  } finally {
    closeSync(fd);
  }
});

test('buffered: a line too long for the buffer is written on its own, after what was gathered; nothing is cut', async () => {
  const { path, fd } = await scratchFile();
  try {
    const writer = new LogWriter(fd, { bytes: 4096, flushIntervalMs: 60_000 });
    writer.write(LINE(1));
    // 120 000 bytes of UTF-8: past the buffer and its room for one more line.
    const long = `{"ua":"${'☃'.repeat(40_000)}"}\n`;
    writer.write(long);
    assert.equal(readFileSync(path, 'utf8'), LINE(1) + long);
    writer.write(LINE(2));
    assert.equal(readFileSync(path, 'utf8'), LINE(1) + long);
    writer.flushSync();
    assert.equal(readFileSync(path, 'utf8'), LINE(1) + long + LINE(2));
  } finally {
    closeSync(fd);
  }
});

test('buffered: flush_interval_ms writes out what is gathered; unbuffered writes each line as it comes', async () => {
  const { path, fd } = await scratchFile();
  try {
    const writer = new LogWriter(fd, { bytes: 65_536, flushIntervalMs: 50 });
    writer.write(LINE(1));
    assert.equal(readFileSync(path, 'utf8'), '');
    for (const until = Date.now() + 5_000; readFileSync(path, 'utf8') === '' && Date.now() < until;) await sleep(10);
    assert.equal(readFileSync(path, 'utf8'), LINE(1));

    const unbuffered = new LogWriter(fd, { bytes: 0, flushIntervalMs: 0 });
    unbuffered.write(LINE(2));
    assert.equal(readFileSync(path, 'utf8'), LINE(1) + LINE(2));
  } finally {
    closeSync(fd);
  }
});

/**
 * A process that writes `count` lines to its stdout, a non-blocking pipe (as the service's is once
 * it has touched process.stdout), then exits without a flush of its own: the exit writes the rest.
 */
async function linesThroughSlowPipe(bytes: number, count: number): Promise<string> {
  const writerModule = new URL('../src/log/log-writer.js', import.meta.url).href;
  const script = `
    process.stdout;
    const { LogWriter } = await import(${JSON.stringify(writerModule)});
    const writer = new LogWriter(1, { bytes: ${bytes}, flushIntervalMs: 60000 });
    const line = ${LINE.toString()};
    for (let n = 0; n < ${count}; n++) writer.write(line(n));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const closed = once(child, 'close');
  // The reader is behind: the pipe fills, and the writer must wait for room rather than drop lines.
  child.stdout.pause();
  await sleep(300);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stdout.resume();
  const [code] = (await closed) as [number];
  assert.equal(code, 0);
  return Buffer.concat(chunks).toString('utf8');
}

test('a full pipe loses nothing: every line arrives whole and in order, buffered or not', async () => {
  const count = 8_000; // about 1.5 MB, several times a pipe's capacity
  const expected = Array.from({ length: count }, (_, n) => LINE(n)).join('');
  assert.equal(await linesThroughSlowPipe(65_536, count), expected);
  assert.equal(await linesThroughSlowPipe(0, count), expected);
});
