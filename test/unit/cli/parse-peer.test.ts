import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPeer, parsePeer } from '../../../src/cli/parse-peer.js';
import { parseAge } from '../../../src/operations/cleanup.js';

test('parsePeer reads AET@HOST:PORT, IPv6 in brackets, and refuses anything else with the expected form', () => {
  assert.deepEqual(parsePeer('PACS@10.0.0.5:104'), { aeTitle: 'PACS', host: '10.0.0.5', port: 104 });
  assert.deepEqual(parsePeer('ORTHANC@pacs.example.org:4242'), { aeTitle: 'ORTHANC', host: 'pacs.example.org', port: 4242 });
  assert.deepEqual(parsePeer('PACS@[fe80::1]:11112'), { aeTitle: 'PACS', host: 'fe80::1', port: 11112 });
  assert.equal(formatPeer(parsePeer('PACS@[fe80::1]:11112')), 'PACS@[fe80::1]:11112');
  assert.throws(() => parsePeer('PACS:104'), /is not AET@HOST:PORT/);
  assert.throws(() => parsePeer('PACS@host'), /is not AET@HOST:PORT/);
  assert.throws(() => parsePeer('PACS@host:70000'), /port 70000 is not 1-65535/);
  assert.throws(() => parsePeer('PACS@host:0'), /port 0 is not 1-65535/);
  assert.throws(() => parsePeer('A_VERY_LONG_AE_TITLE@host:104'), /not a valid AE title/);
  assert.throws(() => parsePeer('BAD\\AE@host:104'), /not a valid AE title/);
});

test('parseAge reads a number and a unit s, m, h or d', () => {
  assert.equal(parseAge('7d'), 7 * 86400);
  assert.equal(parseAge('12h'), 43200);
  assert.equal(parseAge('30m'), 1800);
  assert.equal(parseAge('90s'), 90);
  assert.equal(parseAge('1.5d'), 129600);
  assert.equal(parseAge(' 2 D '), 172800);
  for (const bad of ['7', 'd', '7w', '-1d', '7 days', '']) assert.throws(() => parseAge(bad), /is not an age/, bad);
});
