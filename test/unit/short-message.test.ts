import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shortMessage } from '../../scripts/lib/table';

describe("the demo's error lines (shortMessage)", () => {
  it('keeps a message that fits, whole', () => {
    assert.equal(
      shortMessage('terminating connection due to administrator command'),
      'terminating connection due to administrator command',
    );
  });

  it('keeps only the first clause, up to a semicolon', () => {
    assert.equal(shortMessage('Client has encountered a connection error; not queryable'), 'Client has encountered a connection error');
  });

  it('cuts a long message at a word boundary, with an ellipsis, never mid-word', () => {
    const message = 'terminating connection due to administrator command while the statement was still running on the server';
    const short = shortMessage(message, 60);
    assert.equal(short, 'terminating connection due to administrator command while…');
    assert.ok(short.length <= 61);
    for (const word of short.slice(0, -1).split(' ')) assert.ok(message.split(' ').includes(word), `'${word}' was cut`);
  });
});
