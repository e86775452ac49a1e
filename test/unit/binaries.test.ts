import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findBinary, requireBinary } from '../support/binaries';

describe('middle-box binaries for the infrastructure tests', () => {
  const missing = 'sar-no-such-middle-box';

  function withCI<T>(value: string | undefined, fn: () => T): T {
    const before = process.env['CI'];
    if (value === undefined) delete process.env['CI'];
    else process.env['CI'] = value;
    try {
      return fn();
    } finally {
      if (before === undefined) delete process.env['CI'];
      else process.env['CI'] = before;
    }
  }

  it('finds an installed binary and not a missing one', () => {
    assert.ok(findBinary('sh'));
    assert.equal(findBinary(missing), undefined);
  });

  it('locally, a missing binary skips its tests with the command that installs it', () => {
    const requirement = withCI(undefined, () => requireBinary(missing, 'some-package'));
    assert.equal(requirement.failure, undefined);
    assert.match(String(requirement.skip), /apt-get install -y some-package/);
  });

  it('under CI, a missing binary fails instead of skipping', () => {
    for (const ci of ['true', '1']) {
      const requirement = withCI(ci, () => requireBinary(missing));
      assert.equal(requirement.skip, false);
      assert.match(String(requirement.failure), /not installed.*CI must run/);
    }
  });
});
