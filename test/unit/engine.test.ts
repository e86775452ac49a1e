import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionLostError, type GiveUpReason } from '../../src';
import { decorateHook } from '../../src/core/decorations';
import type { Connection, TransactionLike } from '../../src/engine/port';
import { opened, released } from '../../src/engine/checkout';
import { ConnectTimeoutError } from '../../src/engine/timing';
import { fail, harness, query, type Harness } from './support/fake-host';

const FAST = { backoff: { baseMs: 100, maxMs: 400 } };

async function rejection(promise: Promise<unknown>): Promise<ConnectionLostError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConnectionLostError, `not a ConnectionLostError: ${String(error)}`);
    return error;
  }
  assert.fail('resolved');
}

/** A statement whose connection was lost, as the engine sees it from Query.run. */
function lostStatement(h: Harness, type: string, error: Error, sql = 'SELECT 1', transaction?: TransactionLike) {
  const q = query(type, transaction);
  return { q, result: h.facade.watch(q, sql, undefined, Promise.reject(error)) };
}

describe('the recovery engine (fake host, virtual time)', () => {
  it('allocates no operation for an operation that succeeds', async () => {
    const h = harness({});
    const options = {};
    await h.facade.acquire(options);
    const q = query('SELECT');
    assert.equal(await h.facade.watch(q, 'SELECT 1', undefined, Promise.resolve('rows')), 'rows');
    assert.equal(h.engine.operations.get(options), undefined);
    assert.equal(h.engine.operations.get(q.options), undefined);
    assert.deepEqual(h.hooks, []);
  });

  it('spends the budget: two retries, three attempts, then retries-exhausted over the last real failure', async () => {
    const h = harness(
      { retries: 2, ...FAST },
      { connects: [fail('transient', 'refused 1'), fail('transient', 'refused 2'), fail('transient', 'refused 3')] },
    );
    const error = await rejection(h.facade.acquire({}));
    assert.equal(error.reason, 'retries-exhausted');
    assert.equal(error.attempts, 3);
    assert.equal(error.phase, 'connect');
    assert.match((error.cause as Error).message, /refused 3/);
    assert.equal(h.acquired.length, 3);
    const stats = h.engine.stats.snapshot();
    assert.deepEqual([stats.retries, stats.connectFailures, stats.reconnectFailures, stats.retriesFailed], [2, 3, 2, 1]);
  });

  it('stops at the deadline: an attempt that never answers ends with deadline-exceeded, reporting the real failure', async () => {
    const h = harness({ retries: 5, deadlineMs: 1000, ...FAST }, { connects: [fail('transient', 'refused'), 'hang'] });
    const started = h.now();
    const error = await rejection(h.facade.acquire({}));
    assert.equal(error.reason, 'deadline-exceeded');
    assert.match((error.cause as Error).message, /refused/, 'the deadline of ours is not the failure reported');
    assert.equal(h.now() - started, 1000, 'waited out exactly the deadline (backoff included)');
  });

  it('backs off with full jitter from the injected random source, capped by maxMs; a statement retries at once first', async () => {
    const h = harness(
      { retries: 4, ...FAST },
      { connects: [fail('transient'), fail('transient'), fail('transient'), fail('transient')] },
      () => 0.5,
    );
    await h.facade.acquire({});
    // 0.5 × min(maxMs 400, 100 × 2^(n-1)): 50, 100, 200, 200.
    assert.deepEqual(h.waited, [50, 100, 200, 200]);

    const s = harness({ retries: 2, ...FAST }, { reruns: [fail('lost-unsent')] }, () => 0.5);
    assert.equal(await lostStatement(s, 'SELECT', fail('lost-sent')).result, 'rows');
    assert.deepEqual(s.waited, [0, 100], 'the first retry only lets I/O be seen; the second backs off');
  });

  it('runs model hooks (decorated, then added) before instance hooks, with the classification in the context', async () => {
    const h = harness({ retries: 1, ...FAST }, { connects: [fail('auth', 'password authentication failed')] });
    class Item {}
    const order: string[] = [];
    decorateHook(Item, 'beforeReconnect', (c) => void order.push(`decorated:${c.failure}`));
    h.modelHooks.set(Item, { beforeReconnect: [(c) => void order.push(`model:${c.failure}`)] });
    h.instanceHooks['beforeReconnect']!.push((c) => void order.push(`instance:${c.failure}`));
    await h.facade.acquire({ model: Item });
    assert.deepEqual(order, ['decorated:auth', 'model:auth', 'instance:auth']);
    assert.deepEqual(h.hooks, ['before:connect:1', 'after:connect:1:true']);
    const context = h.contexts[0]!;
    assert.equal(context.model, Item);
    assert.equal(context.host, 'db.example');
    assert.equal(context.config.password, 'secret');
  });

  it('a hook that throws ends the operation with hook-failed and the hook error; no reconnect is tried', async () => {
    const h = harness({ retries: 3, ...FAST }, { connects: [fail('transient')] });
    const vault = new Error('vault sealed');
    h.instanceHooks['beforeReconnect'] = [
      () => {
        throw vault;
      },
    ];
    const error = await rejection(h.facade.acquire({}));
    assert.equal(error.reason, 'hook-failed');
    assert.equal(error.hookError, vault);
    assert.equal(h.acquired.length, 1);
  });

  it('a connect failure inside a statement retry is recovered by the connect phase, on the same budget', async () => {
    const h = harness({ retries: 3, ...FAST }, { connects: [fail('transient', 'refused')] });
    const { q, result } = lostStatement(h, 'SELECT', fail('lost-sent', 'terminated'));
    assert.equal(await result, 'rows');
    assert.deepEqual(h.hooks, ['before:query:1', 'before:connect:2', 'after:connect:2:true', 'after:query:1:true']);
    assert.notEqual(q.connection, undefined);
    const stats = h.engine.stats.snapshot();
    assert.deepEqual([stats.disconnects, stats.retries, stats.reconnects, stats.retriesSucceeded], [1, 2, 2, 1]);
  });

  it("ties Sequelize's own retry attempts to the failure: the same options get the same error at once", async () => {
    const h = harness({ retries: 0 }, { connects: [fail('transient')] });
    const options = {};
    const first = await rejection(h.facade.acquire(options));
    const again = await rejection(h.facade.acquire(options));
    assert.equal(again, first);
    assert.equal(h.acquired.length, 1);
  });

  describe('a full pool (ConnectionAcquireTimeoutError) lost nothing', () => {
    const idle = (h: Harness) => {
      const s = h.engine.stats.snapshot();
      return [s.connectFailures, s.retries, s.notRetried, s.retriesFailed];
    };

    it('reaches the caller unchanged at the first attempt: not wrapped, not retried, no operation', async () => {
      const h = harness({ retries: 3, ...FAST }, { connects: [fail('pool-exhausted', 'ResourceRequest timed out')] });
      const options = {};
      const error = await h.facade.acquire(options).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.equal((error as Error).message, 'ResourceRequest timed out');
      assert.ok(!(error instanceof ConnectionLostError) && h.engine.host.isPoolExhausted(error));
      assert.equal(h.engine.operations.get(options), undefined, "Sequelize's own retry tries again as without the plugin");
      assert.deepEqual([h.acquired.length, h.hooks.length, ...idle(h)], [1, 0, 0, 0, 0, 0]);
    });

    it('ends a connect-phase retry with the pool’s error unchanged', async () => {
      const full = fail('pool-exhausted');
      const h = harness({ retries: 3, ...FAST }, { connects: [fail('transient', 'refused'), full] });
      await assert.rejects(h.facade.acquire({}), (e) => e === full);
      assert.equal(h.acquired.length, 2, 'no retry after the pool timed out');
    });

    it('under a statement being recovered, the caller learns of its lost connection', async () => {
      const h = harness({ retries: 3, ...FAST }, { connects: [fail('pool-exhausted')] });
      const error = await rejection(lostStatement(h, 'SELECT', fail('lost-sent', 'terminated')).result);
      assert.deepEqual([error.phase, error.reason, (error.cause as Error).message], ['query', 'not-retryable', 'terminated']);
    });
  });

  describe('gives up with every reason', () => {
    const transaction = (sql = 'SELECT 1'): TransactionLike & { sql: string } => ({
      id: 't1',
      connection: {} as Connection,
      options: {},
      sql,
    });
    const cases: Array<[GiveUpReason, (h: Harness) => Promise<unknown>, object?]> = [
      ['in-transaction', (h) => lostStatement(h, 'SELECT', fail('lost-sent'), 'SELECT 1', transaction()).result],
      ['commit-outcome-unknown', (h) => lostStatement(h, 'RAW', fail('lost-sent'), 'COMMIT', transaction()).result],
      ['write-may-have-executed', (h) => lostStatement(h, 'INSERT', fail('lost-sent')).result],
      ['writes-not-retried', (h) => lostStatement(h, 'INSERT', fail('lost-unsent')).result, { retryWrites: 'never' }],
      ['retry-disabled', (h) => lostStatement(h, 'SELECT', fail('lost-sent')).result, { retries: 0 }],
      [
        'retries-exhausted',
        (h) => lostStatement(h, 'SELECT', fail('lost-sent')).result,
        { retries: 1, script: { reruns: [fail('lost-sent')] } },
      ],
      ['deadline-exceeded', (h) => h.facade.acquire({}), { deadlineMs: 50, script: { connects: [fail('transient'), 'hang'] } }],
      ['not-retryable', (h) => h.facade.acquire({}), { script: { connects: [fail('fatal')] } }],
      [
        'closed',
        (h) => {
          h.engine.closed = true;
          return lostStatement(h, 'SELECT', fail('lost-sent')).result;
        },
      ],
      [
        'hook-failed',
        (h) => {
          h.instanceHooks['afterReconnect'] = [
            () => {
              throw new Error('metrics down');
            },
          ];
          return lostStatement(h, 'SELECT', fail('lost-sent')).result;
        },
      ],
    ];
    for (const [reason, run, setup = {}] of cases) {
      it(reason, async () => {
        const { script, ...options } = setup as { script?: Parameters<typeof harness>[1] };
        const h = harness({ retries: 2, ...FAST, ...options }, script);
        const error = await rejection(run(h));
        assert.equal(error.reason, reason);
        assert.ok(error.cause instanceof Error);
      });
    }
  });

  it('afterReconnect throwing ends the recovery and gives the new connection back, the statement never moved to it', async () => {
    const h = harness({ retries: 2, ...FAST });
    h.instanceHooks['afterReconnect'] = [
      () => {
        throw new Error('metrics down');
      },
    ];
    const { q, result } = lostStatement(h, 'SELECT', fail('lost-sent'));
    const lost = q.connection;
    assert.equal((await rejection(result)).reason, 'hook-failed');
    assert.equal(h.acquired.length, 1);
    assert.deepEqual(h.released, [{ id: 1 }]);
    assert.equal(q.connection, lost);
    assert.equal(h.reruns, 0);
  });

  it('a rollback on a lost connection resolves as done: the server rolled back with the session', async () => {
    const h = harness({});
    const { result } = lostStatement(h, 'RAW', fail('lost-sent'), 'ROLLBACK', { id: 't', connection: {} as Connection, options: {} });
    assert.equal(await result, 'rolled back');
  });

  it('passes a read-only refusal through untouched when the session is read only by its own settings, not a standby', async () => {
    const h = harness({ retries: 2, ...FAST });
    h.readOnlyBySettings = true;
    const refused = fail('read-only', 'cannot execute INSERT in a read-only transaction');
    await assert.rejects(lostStatement(h, 'INSERT', refused).result, (e) => e === refused);
    assert.deepEqual([h.engine.stats.snapshot().disconnects, h.acquired.length, h.hooks.length], [0, 0, 0]);
    // A standby's refusal (the default answer) is a failover: a new connection, and the write again.
    const standby = harness({ retries: 2, ...FAST });
    assert.equal(await lostStatement(standby, 'INSERT', fail('read-only')).result, 'rows');
    assert.equal(standby.engine.stats.snapshot().disconnects, 1);
  });

  it('passes an error that is not a lost connection through untouched', async () => {
    const h = harness({});
    const constraint = fail('not-lost', 'duplicate key');
    await assert.rejects(lostStatement(h, 'INSERT', constraint).result, (e) => e === constraint);
    assert.equal(h.engine.stats.snapshot().disconnects, 0);
  });

  it('a connection replaced at checkout counts its deadline from the checkout, not from an older attempt the pool hands it', async () => {
    // Someone else's connect, under way for 3 s already: it times out and the pool hands its
    // failure to the replacement this checkout asks for; the next attempt gets no answer.
    const started = 1_000_000;
    const older = { startedAt: started - 3000, abort: () => {} };
    const timedOut = Object.assign(new ConnectTimeoutError(5000, older.startedAt), { kind: 'transient' });
    const h = harness({ retries: 5, deadlineMs: 4000, validateIdleMs: 0, ...FAST }, { connects: [timedOut, 'hang'] });
    assert.equal(h.now(), started);
    h.engine.connections.attempts.add(older);
    Object.assign(h.engine.host, { ping: () => Promise.reject(new Error('no answer')) });
    // An idle connection (validateIdleMs 0: checked at every checkout) that fails its check.
    const idle = { id: 'idle' } as Connection;
    opened(h.engine, idle, h.engine.host.configOf('write'));
    // Used once (handed out the moment it opened: not checked), then returned.
    assert.equal(h.facade.acquired({}, idle), idle);
    released(h.engine, idle);
    const error = await rejection(Promise.resolve(h.facade.acquired({}, idle)));
    assert.equal(error.reason, 'deadline-exceeded');
    assert.equal(h.now() - started, 4000, 'the whole deadline, counted from the checkout');
  });
});
