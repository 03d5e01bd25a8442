import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from '../src/text/printable.js';

// Attacker-given text on a terminal or in a log line: kept as it is only when there is nothing to cut or escape.

test('printable: plain ASCII up to the limit is kept as it is; one more character is cut, with the mark', () => {
  assert.equal(printable('Google-SMTP-STS', 15), 'Google-SMTP-STS');
  assert.equal(printable('Google-SMTP-STS', 14), 'Google-SMTP-ST…(+1)');
  assert.equal(printable('', 0), '');
});

test('printable: the backslash, controls, DEL, C1, separators and bidirectional controls are escaped; other text is kept', () => {
  assert.equal(printable('a\\b', 10), 'a\\\\b');
  assert.equal(printable('\u0000\u001b[2J\u007f', 10), '\\u0000\\u001b[2J\\u007f');
  assert.equal(printable('\u009b\u2028\u202e\ufeff', 10), '\\u009b\\u2028\\u202e\\ufeff');
  assert.equal(printable('ünïcödé ☃ 🚀 ~', 20), 'ünïcödé ☃ 🚀 ~');
  // A surrogate pair is not cut through.
  assert.equal(printable('ab🚀', 3), 'ab…(+2)');
});
