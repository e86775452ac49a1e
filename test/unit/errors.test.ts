import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AccessDeniedError,
  BaseError,
  ConnectionAcquireTimeoutError,
  ConnectionError,
  ConnectionRefusedError,
  ConnectionTimedOutError,
  HostNotFoundError,
  HostNotReachableError,
  InvalidConnectionError,
} from 'sequelize';
import { ConnectionLostError, type ConnectFailureError } from '../../src';
import { connectFailure } from '../../src/errors';

type ErrorClass = new (parent: Error) => ConnectionError;
const CLASSES: ReadonlyArray<[ErrorClass, string]> = [
  [ConnectionRefusedError, 'SequelizeConnectionRefusedError'],
  [AccessDeniedError, 'SequelizeAccessDeniedError'],
  [HostNotFoundError, 'SequelizeHostNotFoundError'],
  [HostNotReachableError, 'SequelizeHostNotReachableError'],
  [ConnectionTimedOutError, 'SequelizeConnectionTimedOutError'],
  [InvalidConnectionError, 'SequelizeInvalidConnectionError'],
  [ConnectionError, 'SequelizeConnectionError'],
];
const details = { attempts: 3, reason: 'retries-exhausted' as const };
const keep = (text: string) => text;

describe('connectFailure: the connect-phase give-up keeps Sequelize’s class', () => {
  for (const [Class, name] of CLASSES) {
    it(`is a ${Class.name} with its name and message, and a ConnectionLostError with the plugin's fields`, () => {
      const driver = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      const sequelizes = new Class(driver);
      const error: ConnectFailureError = connectFailure(sequelizes, details, keep);
      assert.ok(error instanceof Class);
      assert.ok(error instanceof ConnectionError && error instanceof BaseError && error instanceof Error);
      assert.ok(error instanceof ConnectionLostError);
      assert.equal(error.name, name);
      assert.equal(error.message, sequelizes.message);
      assert.equal(error.constructor.name, Class.name);
      assert.equal(error.parent, driver);
      assert.equal(error.original, driver);
      assert.equal(error.cause, sequelizes);
      assert.deepEqual(
        [error.phase, error.attempts, error.reason, error.mayHaveExecuted, error.transactionLost, error.sql],
        ['connect', 3, 'retries-exhausted', false, false, undefined],
      );
      assert.ok(error.stack?.startsWith(`${name}: connect ECONNREFUSED`), error.stack);
    });
  }

  it('uses one cached subclass per Sequelize class, which is no other class', () => {
    const a = connectFailure(new ConnectionRefusedError(new Error('a')), details, keep);
    const b = connectFailure(new ConnectionRefusedError(new Error('b')), details, keep);
    const c = connectFailure(new HostNotFoundError(new Error('c')), details, keep);
    assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b));
    assert.notEqual(Object.getPrototypeOf(a), Object.getPrototypeOf(c));
    assert.ok(!(a instanceof HostNotFoundError) && !(c instanceof ConnectionRefusedError));
  });

  it('leaves Sequelize’s own errors and query-phase ConnectionLostErrors as they are', () => {
    assert.ok(!(new ConnectionRefusedError(new Error('x')) instanceof ConnectionLostError));
    assert.ok(!(new ConnectionAcquireTimeoutError(new Error('x')) instanceof ConnectionLostError));
    const lost = new ConnectionLostError(new Error('gone'), { ...details, phase: 'query', mayHaveExecuted: true, transactionLost: false });
    assert.ok(lost instanceof ConnectionLostError && !(lost instanceof ConnectionRefusedError));
    assert.equal(lost.name, 'ConnectionLostError');
    // A subclass of ours keeps the ordinary prototype check.
    class Mine extends ConnectionLostError {}
    assert.ok(!(lost instanceof Mine));
  });

  it('over a raw driver error (not Sequelize’s) is a plain ConnectionLostError: never the raw error', () => {
    const raw = Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
    const error = connectFailure(raw, details, keep);
    assert.ok(error instanceof ConnectionLostError && error instanceof ConnectionError);
    assert.equal(error.name, 'ConnectionLostError');
    assert.equal(error.phase, 'connect');
    assert.match(
      error.message,
      /^Could not connect to the database after 3 attempts: Connection terminated unexpectedly; no retries left$/,
    );
  });

  it('masks secrets in the message it copies', () => {
    const error = connectFailure(new ConnectionError(new Error('password authentication failed for "app" with hunter2')), details, (t) =>
      t.replaceAll('hunter2', '***'),
    );
    assert.equal(error.message, 'password authentication failed for "app" with ***');
    assert.ok(!error.stack?.includes('hunter2'));
  });
});
