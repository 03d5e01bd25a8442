/**
 * Milliseconds from now until `event` settles; rejects after `deadlineMs`, so a limit or a
 * close that does not happen fails the test at once rather than when Node's own default (up to
 * minutes) or a long configured timeout finally closes the connection.
 */
export async function msUntil(event: Promise<unknown>, deadlineMs = 5_000): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    await Promise.race([event, deadline]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}
