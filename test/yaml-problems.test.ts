import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

// Where YAML-level problems are located and how they read: keys written twice, and tags.

const errorsOf = (yaml: string): string[] => {
  const result = parseConfigText(yaml, 'mta-sts.yaml');
  return result.ok ? [] : result.errors;
};

const FILES_TLS = 'domains: { example.com: { mode: none } }\ntls:\n  source: files\n  certificates:\n';

test('a flow mapping as an item of a block list: a key written twice in it is found, a wrong value located at the value', () => {
  // Before, js-yaml's second event for such an item hid the mapping: the duplicate passed (the last value won).
  assert.deepEqual(errorsOf(`${FILES_TLS}    - { cert: a.pem, cert: b.pem, key: k.pem }\n`), [
    'mta-sts.yaml:5:22 tls.certificates[0].cert: duplicate key; each key may appear only once in a mapping',
  ]);
  assert.deepEqual(errorsOf(`${FILES_TLS}    - { cert: a.pem, key: k.pem }\n    - { cert: 2, key: k.pem }\n`), [
    'mta-sts.yaml:6:15 tls.certificates[1].cert: 2 is not text; expected the path of a PEM certificate chain',
  ]);
  // A block mapping whose only key is a flow mapping stays a mapping of its own.
  assert.deepEqual(errorsOf('domains: { example.com: { mode: none } }\nlisten:\n  { a: 1 }:\n'), [
    'mta-sts.yaml:3:3 listen.[object Object]: unknown key; allowed: address, https, http',
  ]);
});

test('unknown tags: located at the tag as written when it is on the same line, at the value otherwise; long ones cut', () => {
  const advice = 'this file uses no tags: remove the "!" or quote the value';
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: !foo none }\n'), [
    `mta-sts.yaml:2:24 domains.example.com.mode: unknown tag !<!foo>; ${advice}`,
  ]);
  // The tag on the line before its value: js-yaml's place, the end of the value.
  assert.deepEqual(errorsOf('domains:\n  example.com:\n    mode: !foo\n      none\n'), [
    `mta-sts.yaml:4:11 domains.example.com.mode: unknown tag !<!foo>; ${advice}`,
  ]);
  // A shorthand (`!!foo`) is named expanded, which is not in the text: js-yaml's place too.
  assert.deepEqual(errorsOf('domains:\n  example.com: { mode: !!foo none }\n'), [
    `mta-sts.yaml:2:35 domains.example.com.mode: unknown tag !<tag:yaml.org,2002:foo>; ${advice}`,
  ]);
  // Cut at 120 characters of js-yaml's reason.
  const [long] = errorsOf(`domains:\n  example.com: { mode: !${'x'.repeat(200)} none }\n`);
  assert.equal(long, `mta-sts.yaml:2:24 domains.example.com.mode: unknown tag !<!${'x'.repeat(105)}…(+96); ${advice}`);
});

test('a list whose items do not line up with its written entries (an empty "-", "a: b" pairs): problems at the list', () => {
  const notText = 'is not text; expected a host name such as mail.example.com or *.mail.example.com';
  assert.deepEqual(errorsOf('domains:\n  example.com:\n    mx:\n      -\n      - mail.example.com\n'), [
    `mta-sts.yaml:4:7 domains.example.com.mx[0]: null ${notText}`,
  ]);
  assert.deepEqual(errorsOf('domains:\n  example.com:\n    mx: [a: b, mail.example.com, 5]\n'), [
    `mta-sts.yaml:3:9 domains.example.com.mx[0]: {"a": "b"} ${notText}`,
    `mta-sts.yaml:3:9 domains.example.com.mx[2]: 5 ${notText}`,
  ]);
});
