import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DialectClassifier } from '../../src/core/failure';
import type { Dialect } from '../../src/dialects';
import type { DriverCallback } from '../../src/dialects/types';
import type { Connection, QueryLike } from '../../src/engine/port';
import type { Engine } from '../../src/engine/state';
import { Tap } from '../../src/engine/tap';
import { systemClock } from '../../src/engine/timing';
import { uncaughtDuring } from '../support/transparency/errors';
import { harness } from './support/fake-host';

/** The engine of a fake host, with a classifier whose methods throw where `broken` says. */
function engineWith(broken: Partial<DialectClassifier>): Engine {
  const { engine } = harness({});
  const dialect: Dialect = { ...engine.dialect, classifier: { ...engine.dialect.classifier, ...broken } };
  return { ...engine, dialect };
}

/** One driver call through the tap: the callback the driver would call, and what Sequelize's callback got. */
function tapped(engine: Engine, transaction?: object) {
  const tap = new Tap(engine, undefined);
  const connection = {} as Connection;
  const query = { connection, options: { type: 'SELECT', transaction } } as unknown as QueryLike;
  tap.arm(query, 'SELECT 1');
  let settle!: (value: { error: unknown; result?: unknown }) => void;
  const got = new Promise<{ error: unknown; result?: unknown }>((resolve) => (settle = resolve));
  const callback: DriverCallback = (error, result) => settle({ error, result });
  return { done: tap.take(connection, 'SELECT 1', undefined, callback), got };
}

const boom = (): never => {
  throw new TypeError('boom');
};

describe('code of the plugin inside a driver callback or a timer never throws there', () => {
  it('a driver error that is no lost connection reaches Sequelize’s callback as the driver gave it, to be formatted there', async () => {
    const { done, got } = tapped(harness({}).engine);
    const error = Object.assign(new Error('relation "x" does not exist'), { code: '42P01' });
    done(error);
    assert.equal((await got).error, error);
  });

  it('a throw while classifying a failure becomes the caller’s rejection', async () => {
    const { uncaught, value } = await uncaughtDuring(async () => {
      const { done, got } = tapped(engineWith({ classifyQueryError: boom }));
      assert.doesNotThrow(() => done(new Error('lost?')));
      return got;
    });
    assert.deepEqual(uncaught, []);
    assert.ok(value?.error instanceof TypeError && value.error.message === 'boom');
  });

  it('a throw while noting a transaction’s statement on success becomes the caller’s rejection', async () => {
    const { uncaught, value } = await uncaughtDuring(async () => {
      const { done, got } = tapped(engineWith({ isTransactionStart: boom }), {});
      assert.doesNotThrow(() => done(null, { rows: [] }));
      return got;
    });
    assert.deepEqual(uncaught, []);
    assert.ok(value?.error instanceof TypeError);
  });

  it('a timer whose work throws is no uncaught exception', async () => {
    const { uncaught } = await uncaughtDuring(
      () =>
        new Promise<void>((resolve) => {
          systemClock.setTimer(boom, 0);
          systemClock.setTimer(resolve, 5);
        }),
    );
    assert.deepEqual(uncaught, []);
  });
});
