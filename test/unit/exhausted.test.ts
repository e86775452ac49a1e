import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainExhausted, reached, unreached } from '../../src/engine/exhausted';
import { fail, harness } from './support/fake-host';

/** The fake host's acquire timeout is 1000 ms; its clock is virtual. */
const timeout = () => fail('pool-exhausted', 'Operation timeout');
const refused = () => Object.assign(fail('transient', 'connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('an acquire timeout: exhausted or unreachable', () => {
  it('leaves plain exhaustion as it is: no failed attempt, none being opened', () => {
    const h = harness({});
    const error = timeout();
    assert.equal(explainExhausted(h.engine, error).message, 'Operation timeout');
  });

  it('says the server was unreachable when attempts failed lately and none succeeded since, with the code only', () => {
    const h = harness({});
    unreached(h.engine, refused());
    unreached(h.engine, refused());
    const error = explainExhausted(h.engine, timeout());
    assert.equal(
      error.message,
      'Operation timeout: the pool had no free connection, and no attempt to reach the server in the last 1000 ms succeeded (2 failed: ECONNREFUSED)',
    );
    assert.ok(error.stack?.startsWith(`Error: ${error.message}`), 'the stack header too');
    assert.equal(explainExhausted(h.engine, error).message, error.message, 'explained once');
  });

  it('forgets the failures once a connection is opened, and ignores a refused login (the server answered)', () => {
    const h = harness({});
    unreached(h.engine, refused());
    reached(h.engine);
    assert.equal(explainExhausted(h.engine, timeout()).message, 'Operation timeout');
    unreached(h.engine, refused());
    unreached(h.engine, fail('auth', 'password authentication failed'));
    assert.equal(explainExhausted(h.engine, timeout()).message, 'Operation timeout');
  });

  it('counts a connection still being opened as unanswered', () => {
    const h = harness({});
    h.engine.connections.opening = 1;
    assert.match(explainExhausted(h.engine, timeout()).message, /in the last 1000 ms succeeded \(1 unanswered\)$/);
  });

  it('leaves any other error alone', () => {
    const h = harness({});
    unreached(h.engine, refused());
    const other = refused();
    assert.equal(explainExhausted(h.engine, other).message, 'connect ECONNREFUSED 10.0.0.1:5432');
  });
});
