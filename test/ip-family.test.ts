import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { ipFamily } from '../src/net/ip-family.js';

// ipFamily stands in for node:net's isIP (see src/net/ip-family.ts): every answer must be isIP's.

test('ipFamily: the answers of isIP on the edges of both address forms', () => {
  const cases = [
    '',
    '0.0.0.0',
    '255.255.255.255',
    '256.0.0.1',
    '192.0.2.01',
    '192.0.2',
    '192.0.2.1.',
    '.192.0.2.1',
    '1.2.3.4.5',
    '1..2.3',
    '1.2.3.1000',
    '1.2.3.a',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '١.٢.٣.٤',
    '::',
    ':::',
    '::1',
    '1::',
    ':1',
    '1:',
    '1::2::3',
    '::ffff:192.0.2.1',
    '::FFFF:192.0.2.1',
    '::192.0.2.1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1::3:4:5:6:7:8',
    '1:2:3:4:5:6:192.0.2.1',
    '1:2:3:4:5::192.0.2.1',
    '1:2:3:4:5:6::192.0.2.1',
    '1:2:3:4:5:6:7:192.0.2.1',
    '::192.0.2.1:1',
    '::192.0.2',
    '::1.2.3.04',
    '12345::',
    '0000:0000:0000:0000:0000:0000:0000:0001',
    'g::1',
    'fe80::1%eth0',
    'fe80::1%',
    'fe80::1%a_b',
    'fe80::1%a%b',
    'fe80::1%a:b.c-d',
    '::%x',
    '%eth0',
    '1.2.3.4%eth0',
    'fe80::1%é',
    'fe80::1%a b',
    '[::1]',
    '2001:db8::1/64',
    'mail.example.com',
    'localhost',
  ];
  for (const text of cases) assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
});

test('ipFamily: the answers of isIP on 200 000 random strings built from address pieces', () => {
  // A seeded generator, so that a failure names a string that the next run meets again.
  let seed = 20_261_202;
  const random = (below: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % below;
  };
  const pieces = [
    '0',
    '1',
    '9',
    '00',
    '01',
    '25',
    '255',
    '256',
    '999',
    'f',
    'F',
    'ab',
    'ffff',
    '12345',
    'g',
    ':',
    '::',
    '.',
    '%',
    'eth0',
    '-',
    ' ',
    '_',
  ];
  let agreed = 0;
  for (let round = 0; round < 200_000; round++) {
    let text = '';
    for (let count = random(14); count > 0; count--) text += pieces[random(pieces.length)];
    assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
    agreed++;
  }
  assert.equal(agreed, 200_000);
});

test('ipFamily: the answers of isIP on valid addresses with their groups shortened and compressed', () => {
  let seed = 7;
  const random = (below: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % below;
  };
  let families = { 4: 0, 6: 0 };
  for (let round = 0; round < 50_000; round++) {
    const groups = Array.from({ length: 8 }, () => (random(3) === 0 ? '0' : random(0x10000).toString(16)));
    const from = random(9);
    const to = from + random(9 - from);
    let text =
      to > from && random(2) === 0 ? `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}` : groups.join(':');
    if (random(4) === 0) text = text.replace(/[^:]+:[^:]+$/, `${random(300)}.${random(256)}.${random(256)}.${random(256)}`);
    if (random(5) === 0) text += '%eth' + random(3);
    const family = isIP(text);
    if (family !== 0) families[family as 4 | 6]++;
    assert.equal(ipFamily(text), family, JSON.stringify(text));
  }
  // The generator must make mostly valid addresses, or it tests only the refusals.
  assert.ok(families[6] > 25_000, `only ${families[6]} valid IPv6 addresses generated`);
});
