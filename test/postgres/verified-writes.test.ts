import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { QueryTypes, UniqueConstraintError, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats, type AfterReconnectContext } from '../../src';
import { admin, adminUrl, assertPoolIntact, readOnlySessions, terminateBackends, testSequelize, uniqueAppName } from '../support/db';
import { defineItem, gate, outcome, useFixture, writesUnderFaults } from '../support/fixture';
import { until } from '../support/workload';

const VERIFIED = { retryWrites: 'verified', retries: 3, backoff: { baseMs: 0, maxMs: 10 } } as const;

/** An INSERT of one row with this tag, held at `gateSql` while it runs. */
const heldInsert = (tag: string, gateSql: string) => `INSERT INTO items (tag) SELECT '${tag}' WHERE ${gateSql} IS NOT NULL`;

/** The server process of `appName`'s statement waiting at a gate. */
async function pidAtGate(appName: string): Promise<number> {
  return admin(adminUrl(), async (c) => {
    const { rows } = await c.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
      [appName],
    );
    return rows[0]!.pid;
  });
}

const alive = (pid: number) =>
  admin(adminUrl(), async (c) => (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 1);

describe("retryWrites: 'verified'", () => {
  const f = useFixture();
  before(async () => {
    // A COMMIT of a row tagged `gate:<key>` waits at that advisory lock: a COMMIT held on the server.
    await admin(f.url, async (c) => {
      await c.query(`CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.tag LIKE 'gate:%' THEN PERFORM pg_advisory_xact_lock_shared(split_part(NEW.tag, ':', 2)::bigint); END IF;
          RETURN NULL;
        END $$`);
      await c.query(
        'CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit()',
      );
      await c.query('CREATE UNIQUE INDEX items_unique_tag ON items (tag) WHERE tag LIKE $$unique:%$$');
    });
  });

  it('retries a write whose backend is killed while it runs, before COMMIT: one row, no error (unsent: an unknown outcome)', async () => {
    for (const retryWrites of ['unsent', 'verified'] as const) {
      const app = f.appName(retryWrites);
      const sequelize = testSequelize(f.url, { appName: app, plugin: { ...VERIFIED, retryWrites } });
      const tag = f.appName('killed');
      const held = await gate(f.url);
      try {
        const write = outcome(sequelize.query(heldInsert(tag, held.sql), { type: QueryTypes.INSERT }));
        await held.held(app);
        assert.equal(await terminateBackends(adminUrl(), app), 1);
        await held.open();
        const result = await write;
        if (retryWrites === 'unsent') {
          assert.ok(!result.ok && result.error instanceof ConnectionLostError);
          assert.equal(result.error['mayHaveExecuted'], true);
          assert.equal(result.error['committed'], undefined, 'unknown: absent');
          assert.equal(await f.count(tag), 0);
        } else {
          assert.ok(result.ok, `verified write failed: ${!result.ok && result.error.message}`);
          assert.equal(await f.count(tag), 1);
          assert.equal(getReconnectStats(sequelize).retriesSucceeded, 1);
        }
        await assertPoolIntact(sequelize);
      } finally {
        await held.open();
        await sequelize.close();
      }
    }
  });

  it('settles a COMMIT whose reply was lost as committed: the call succeeds with its result, the row exists once', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: VERIFIED });
    const Item = defineItem(sequelize);
    const tag = f.appName('swallowed');
    f.proxy.arm('COMMIT', 'swallow-reply');
    const item = await Item.create({ tag });
    assert.equal(item.get('tag'), tag);
    assert.equal(typeof item.get('id'), 'number');
    assert.equal(await f.count(tag), 1);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.commitsSettled, 1);
    assert.equal(stats.retries, 0, 'nothing was run again');
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('retries a write whose COMMIT never reached the server: the row exists once', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: VERIFIED });
    const Item = defineItem(sequelize);
    const tag = f.appName('reset');
    f.proxy.arm('COMMIT', 'reset');
    await Item.create({ tag });
    assert.equal(await f.count(tag), 1);
    const stats = getReconnectStats(sequelize);
    assert.equal(stats.commitsSettled, 1);
    assert.equal(stats.retriesSucceeded, 1);
    await sequelize.close();
  });

  it('ends the old session when its COMMIT stays in progress, and only then retries: never two rows', async () => {
    const app = f.appName();
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, plugin: { ...VERIFIED, deadlineMs: 20_000 } });
    const held = await gate(f.url);
    const key = /\((\d+)\)/.exec(held.sql)![1]!;
    const tag = `gate:${key}:${app}`;
    try {
      const write = outcome(sequelize.query(`INSERT INTO items (tag) VALUES ('${tag}')`, { type: QueryTypes.INSERT }));
      await held.held(app);
      const oldPid = await pidAtGate(app);
      // The client's socket is cut while COMMIT waits on the server, which does not notice.
      f.proxy.cutAll();
      await until('the plugin ends the old session', async () => !(await alive(oldPid)));
      await held.held(app); // the retry's COMMIT
      await held.open();
      const result = await write;
      assert.ok(result.ok, `verified write failed: ${!result.ok && result.error.message}`);
      assert.equal(await f.count(tag), 1);
      assert.equal(getReconnectStats(sequelize).commitsSettled, 1);
    } finally {
      await held.open();
      await sequelize.close();
    }
  });

  it('stops settling a lost COMMIT at close(): an unknown outcome, and the old session is never ended', async () => {
    const app = f.appName();
    const sequelize = testSequelize(f.proxiedUrl, { appName: app, plugin: { ...VERIFIED, deadlineMs: 20_000 } });
    const held = await gate(f.url);
    const key = /\((\d+)\)/.exec(held.sql)![1]!;
    const tag = `gate:${key}:${app}`;
    let closing: Promise<void> | undefined;
    // The settling's first connection attempt is refused; once its retry has a connection, close() comes.
    sequelize.addHook('beforeReconnect', () => f.proxy.accept());
    sequelize.addHook('afterReconnect', (context: AfterReconnectContext) => {
      if (context.phase === 'connect' && context.reconnected) closing ??= sequelize.close();
    });
    try {
      const write = outcome(sequelize.query(`INSERT INTO items (tag) VALUES ('${tag}')`, { type: QueryTypes.INSERT }));
      await held.held(app);
      const oldPid = await pidAtGate(app);
      f.proxy.refuse();
      f.proxy.cutAll();
      const result = await write;
      assert.ok(closing, 'close() came while settling');
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, String(!result.ok && result.error));
      assert.deepEqual(
        { mayHaveExecuted: result.error['mayHaveExecuted'], committed: result.error['committed'], oldSessionAlive: await alive(oldPid) },
        { mayHaveExecuted: true, committed: undefined, oldSessionAlive: true },
      );
      assert.equal(getReconnectStats(sequelize).commitsUnknown, 1);
      await held.open();
      await until('the old session commits', async () => (await f.count(tag)) === 1);
    } finally {
      f.proxy.accept();
      await held.open();
      await (closing ?? sequelize.close());
    }
  });

  it('reports an unknown outcome honestly when no server answers: mayHaveExecuted, committed absent', async () => {
    const sequelize = testSequelize(f.proxiedUrl, {
      appName: f.appName(),
      pool: { max: 1 },
      plugin: { ...VERIFIED, deadlineMs: 800, validateIdleMs: false },
    });
    const Item = defineItem(sequelize);
    const tag = f.appName('unanswered');
    await sequelize.query('SELECT 1');
    f.proxy.refuse();
    f.proxy.arm('COMMIT', 'swallow-reply');
    try {
      const result = await outcome(Item.create({ tag }));
      assert.ok(!result.ok && result.error instanceof ConnectionLostError, 'a ConnectionLostError');
      assert.equal(result.error['mayHaveExecuted'], true);
      assert.equal(result.error['committed'], undefined);
      assert.equal(result.error['reason'], 'commit-outcome-unknown');
      assert.equal(getReconnectStats(sequelize).commitsUnknown, 1);
    } finally {
      f.proxy.accept();
    }
    assert.equal(await f.count(tag), 1, 'it did commit: the error said it might have');
    await sequelize.close();
  });

  it("rolls back a verified write that fails on the server, and leaves the connection clean: Sequelize's own error", async () => {
    const sequelize = testSequelize(f.url, { appName: f.appName(), pool: { max: 1 }, plugin: VERIFIED });
    const Item = defineItem(sequelize);
    const tag = `unique:${f.appName()}`;
    await Item.create({ tag });
    const duplicate = await outcome(Item.create({ tag }));
    assert.ok(!duplicate.ok && duplicate.error instanceof UniqueConstraintError);
    // Outside a transaction each statement is its own: its start is the transaction's start.
    const [row] = await sequelize.query<{ own: boolean }>('SELECT now() = statement_timestamp() AS own', { type: QueryTypes.SELECT });
    assert.equal(row?.own, true, 'the next statement runs outside any transaction');
    assert.equal(await f.count(tag), 1);
    await assertPoolIntact(sequelize);
    await sequelize.close();
  });

  it('applies per call and per model, on top of a plugin that does not verify', async () => {
    const sequelize = testSequelize(f.proxiedUrl, { appName: f.appName(), plugin: { retries: 2 } });
    const Item = defineItem(sequelize);
    const Verified = sequelize.define('VerifiedItem', { tag: Item.getAttributes().tag }, {
      tableName: 'items',
      autoReconnect: { retryWrites: 'verified' },
    } as object);
    const perCall = f.appName('per-call');
    f.proxy.arm('COMMIT', 'swallow-reply');
    await Item.create({ tag: perCall }, { reconnect: { retryWrites: 'verified' } } as object);
    const perModel = f.appName('per-model');
    f.proxy.arm('COMMIT', 'swallow-reply');
    await Verified.create({ tag: perModel });
    assert.deepEqual([await f.count(perCall), await f.count(perModel)], [1, 1]);
    assert.equal(getReconnectStats(sequelize).commitsSettled, 2);
    await sequelize.close();
  });
});

describe("retryWrites: 'verified' under a short chaos loop", () => {
  const f = useFixture();

  it('gives every write a definite outcome while the server answers: no duplicate, nothing lost, no unknown', async () => {
    const app = f.appName('chaos');
    const sequelize: Sequelize = testSequelize(f.proxiedUrl, {
      appName: app,
      pool: { max: 4 },
      plugin: { retryWrites: 'verified', retries: 5, deadlineMs: 10_000, backoff: { baseMs: 5, maxMs: 50 } },
    });
    const Item = defineItem(sequelize);
    const { outcomes, counts, injected } = await writesUnderFaults(
      f,
      app,
      ['COMMIT swallow-reply', 'COMMIT reset', 'COMMIT cut-after-send', 'INSERT swallow-reply', 'INSERT reset', 'kill'],
      (tag) => Item.create({ tag }),
    );
    const unknown: string[] = [];
    for (const [tag, result] of outcomes) {
      const n = counts.get(tag) ?? 0;
      if (result === true) assert.equal(n, 1, `${tag} succeeded: exactly one row`);
      else if (result instanceof ConnectionLostError && result.committed === false) assert.equal(n, 0, `${tag} reported not committed`);
      else if (result instanceof ConnectionLostError && result.committed === true) assert.equal(n, 1, `${tag} reported committed`);
      else unknown.push(`${tag}: ${result.message}`);
    }
    for (const [tag, n] of counts) assert.ok(outcomes.has(tag) && n === 1, `${tag}: ${n} rows, none unaccounted for`);
    const stats = getReconnectStats(sequelize);
    console.log(
      `# chaos: ${outcomes.size} writes, ${injected} faults, ${stats.disconnects} disconnects, ${stats.commitsSettled} COMMITs settled, ` +
        `${stats.retriesSucceeded} retried ok, ${[...outcomes.values()].filter((r) => r !== true).length} failed, ${unknown.length} unknown`,
    );
    assert.deepEqual(unknown, [], 'no write whose outcome stayed unknown');
    assert.ok(stats.commitsSettled > 0 && stats.disconnects > 10, 'the faults did land');
    await sequelize.close();
  });
});

describe("retryWrites: 'verified' on a session read only by its role's settings", () => {
  it("gives a write the same error as 'unsent' and bare Sequelize (25006 DatabaseError): no retry, no disconnect", async () => {
    const sessions = await readOnlySessions('ROLE');
    const instances: Sequelize[] = [];
    try {
      const write = async (plugin: object | false) => {
        const sequelize = testSequelize(sessions.url, { appName: uniqueAppName('verified_ro'), plugin });
        instances.push(sequelize);
        const written = await outcome(sequelize.query(`INSERT INTO notes (body) VALUES ('x')`, { type: QueryTypes.INSERT }));
        const stats = plugin ? getReconnectStats(sequelize) : { retries: 0, disconnects: 0 };
        return {
          name: written.ok ? 'ok' : written.error.name,
          code: written.ok ? undefined : (written.error['parent'] as { code?: string } | undefined)?.code,
          retries: stats.retries,
          disconnects: stats.disconnects,
        };
      };
      const bare = await write(false);
      assert.deepEqual(bare, { name: 'SequelizeDatabaseError', code: '25006', retries: 0, disconnects: 0 });
      assert.deepEqual(await write({ retries: 2, backoff: { baseMs: 1, maxMs: 5 } }), bare);
      assert.deepEqual(await write({ retryWrites: 'verified', retries: 2, backoff: { baseMs: 1, maxMs: 5 } }), bare);
    } finally {
      await Promise.all(instances.map((s) => s.close()));
      await sessions.drop();
    }
  });
});
