import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactor } from '../../src/core/redact';

describe('redaction', () => {
  const redact = redactor(() => ['s3cret-pass']);
  it('masks credentials in connection strings', () => {
    assert.equal(redact('cannot reach postgres://app:hunter22@db:5432/x'), 'cannot reach postgres://app:***@db:5432/x');
  });
  it('masks password literals in SQL', () => {
    assert.equal(redact(`ALTER ROLE app PASSWORD 'it''s secret'`), `ALTER ROLE app PASSWORD '***'`);
  });
  it('masks known passwords anywhere', () => {
    assert.equal(redact('saw s3cret-pass twice: s3cret-pass'), 'saw *** twice: ***');
  });
});
