/**
 * Settling a lost COMMIT asks the server on a new connection. That connection can go silent too
 * (found by the CI soak: a verified write and replayable transactions reported unknown after the
 * question waited out the whole deadline): the watchdog watches the questions like any
 * statement, cuts the silent one, and the answer comes from another connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sequelize } from 'sequelize';
import { getReconnectStats } from '../../src';
import { testSequelize } from '../support/db';
import { defineItem, outcome, useFixture, within } from '../support/fixture';

/** Far past two detections: only the deadline could make the outcome unknown. */
const PLUGIN = { silenceMs: 1000, retries: 5, deadlineMs: 30_000 } as const;

describe('a lost COMMIT whose settling question goes silent as well (PostgreSQL)', () => {
  const instances: Sequelize[] = [];
  const f = useFixture(() => instances);
  const open = (plugin: Parameters<typeof testSequelize>[1]['plugin']) => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName('silent-settle'), pool: { max: 2 }, plugin });
    instances.push(sequelize);
    return sequelize;
  };

  /**
   * Runs `work` with the COMMIT's answer, then the first settling question's, going nowhere
   * (nothing is closed), and asserts it succeeded once, settled, well before the deadline.
   */
  async function settledOnce(sequelize: Sequelize, what: string, tag: string, work: () => Promise<unknown>): Promise<number> {
    await sequelize.query('SELECT 1');
    f.proxy.arm('COMMIT', 'black-hole-after-send');
    f.proxy.arm('pg_xact_status', 'black-hole-after-send');
    const started = Date.now();
    const settled = await within(outcome(work()), 20_000);
    const elapsed = Date.now() - started;
    assert.ok(
      settled !== 'pending' && settled.ok,
      `${what}: ${settled === 'pending' ? 'still pending' : String(!settled.ok && settled.error)}`,
    );
    // Two detections (the COMMIT's, the question's): silenceMs + a tick + a check each.
    assert.ok(elapsed < 10_000, `settled after ${elapsed} ms`);
    assert.equal(await f.count(tag), 1);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.commitsSettled, 1);
    assert.equal(stats.commitsUnknown, 0);
    return elapsed;
  }

  it('a verified write: the question is cut and asked again, the write succeeds once, well before the deadline', async () => {
    const sequelize = open({ ...PLUGIN, retryWrites: 'verified' });
    const Item = defineItem(sequelize);
    const tag = f.appName('verified');
    const elapsed = await settledOnce(sequelize, 'the write', tag, () => Item.create({ tag }));
    console.log(`# verified write settled after ${elapsed} ms, its question silenced once`);
  });

  it('a replayable transaction: settled as committed, never replayed', async () => {
    const sequelize = open({ ...PLUGIN, replayTransactions: true });
    const Item = defineItem(sequelize);
    const tag = f.appName('replay');
    let attempts = 0;
    await settledOnce(sequelize, 'the transaction', tag, () =>
      sequelize.transaction(async (transaction) => {
        attempts++;
        await Item.create({ tag }, { transaction });
      }),
    );
    assert.equal(attempts, 1, 'a committed transaction was replayed');
  });
});
