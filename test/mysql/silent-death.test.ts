/**
 * A connection that dies without a word under a running statement (a proxy that stops
 * forwarding both ways and closes nothing), on mysql2 and the mariadb connector: the watchdog
 * asks the server on a separate connection (information_schema.PROCESSLIST), cuts the
 * connection whose answer was lost, and never cuts a healthy long query.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import mariadbDriver from 'mariadb';
import mysql2Driver from 'mysql2';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { QueryTypes } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { outcome, within } from '../support/fixture';
import { MariaDbServer, mariadbRequirement, ownMariadbRequirement } from '../support/mariadb';
import { FAMILY, myFixture, type Family, type MyFixture, useMyFixture } from '../support/mysql';
import { uncaughtDuring } from '../support/transparency/errors';
import { until } from '../support/workload';

/** Resolves once a statement of `user` containing `fragment` runs on the server (one connection, polled). */
async function running(watcher: Connection, user: string, fragment: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const [rows] = await watcher.query<RowDataPacket[]>(
      "SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND IN ('Query', 'Execute') AND INFO LIKE ?",
      [user, `%${fragment}%`],
    );
    if (Number(rows[0]!['n']) > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no statement like ${fragment} of ${user} ever ran`);
}

/** Counts the connections the driver opens meanwhile: once the pool holds its one, only the watchdog's checks. */
async function countingConnects<T>(dialect: Family, fn: () => Promise<T>): Promise<{ value: T; connects: number }> {
  const lib = (dialect === 'mysql' ? mysql2Driver : mariadbDriver) as unknown as { createConnection: (...a: unknown[]) => unknown };
  const original = lib.createConnection;
  let connects = 0;
  lib.createConnection = (...args: unknown[]) => {
    connects++;
    return original.apply(lib, args);
  };
  try {
    return { value: await fn(), connects };
  } finally {
    lib.createConnection = original;
  }
}

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: a connection that goes silent under a statement`, () => {
    const f = useMyFixture();
    let watcher: Connection;
    before(async () => {
      watcher = await createConnection(f.url);
      watcher.on('error', () => {});
    });
    after(async () => {
      f.proxy.closeStranded();
      await watcher.end().catch(() => watcher.destroy());
    });

    /** Starts `run` and mutes the proxy once its statement (`fragment`) runs on the server. */
    const silencedMidway = async <T>(user: string, fragment: string, run: () => Promise<T>) => {
      const result = outcome(run());
      await running(watcher, user, fragment);
      f.proxy.muteAll();
      return { result, mutedAt: Date.now() };
    };

    it('recovers a read on a new connection within silenceMs and one recovery', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { silenceMs: 2000 } });
      const { uncaught, value } = await uncaughtDuring(async () => {
        const { result, mutedAt } = await silencedMidway(user, 'SLEEP(0.3)', () =>
          sequelize.query<{ answer: unknown }>('SELECT SLEEP(0.3) AS slept, 42 AS answer', { type: QueryTypes.SELECT }),
        );
        return { settled: await within(result, 10_000), elapsed: Date.now() - mutedAt };
      });
      assert.deepEqual(uncaught, []);
      const { settled, elapsed } = value!;
      assert.ok(settled !== 'pending', 'the read still hangs 10 s after the silence');
      assert.ok(settled.ok, !settled.ok ? settled.error.message : '');
      assert.equal(Number(settled.value[0]!.answer), 42);
      assert.ok(elapsed < 6000, `recovered ${elapsed} ms after the silence`);
      const stats = getReconnectStats(sequelize);
      assert.equal(stats.disconnects, 1);
      assert.equal(stats.retriesSucceeded, 1);
      console.log(`# ${dialect}: silent read recovered ${elapsed} ms after the silence`);
    });

    it('watches the read run again too: a replacement that goes silent as well is found, and the read recovers on a third', async () => {
      // A deadline far past two detections: what ends the second silence is the watchdog, not the deadline.
      const { sequelize } = await f.app(dialect, { plugin: { silenceMs: 2000, retries: 3, deadlineMs: 30_000 } });
      const { uncaught, value } = await uncaughtDuring(async () => {
        // The statement's first run and its retry each reach the server, then their connections go silent.
        f.proxy.arm('silent_twice_marker', 'black-hole-after-send', { times: 2 });
        const started = Date.now();
        const result = outcome(
          sequelize.query<{ silent_twice_marker: unknown }>('SELECT 44 AS silent_twice_marker', { type: QueryTypes.SELECT }),
        );
        return { settled: await within(result, 15_000), elapsed: Date.now() - started };
      });
      assert.deepEqual(uncaught, []);
      const { settled, elapsed } = value!;
      assert.ok(settled !== 'pending' && settled.ok, settled !== 'pending' && !settled.ok ? settled.error.message : 'pending 15 s later');
      assert.equal(Number(settled.value[0]!.silent_twice_marker), 44);
      // Two detections (silenceMs + up to a tick + the check each) and two recoveries: about 6-8 s.
      assert.ok(elapsed < 12_000, `recovered after ${elapsed} ms`);
      const stats = getReconnectStats(sequelize);
      assert.equal(stats.disconnects, 2);
      assert.equal(stats.retriesSucceeded, 1);
      console.log(`# ${dialect}: read silenced twice recovered after ${elapsed} ms`);
    });

    it('asks about statements silent together on one check connection, and recovers each read', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { silenceMs: 2000 }, pool: { max: 3 } });
      // The pool's three connections open before anything is counted.
      await Promise.all([0, 1, 2].map(() => sequelize.query('SELECT SLEEP(0.05)')));
      const { uncaught, value } = await uncaughtDuring(() =>
        countingConnects(dialect, async () => {
          const reads = [0, 1, 2].map((n) =>
            outcome(sequelize.query<{ n: unknown }>(`SELECT SLEEP(0.3) AS slept, ${n} AS n`, { type: QueryTypes.SELECT })),
          );
          await until('the three reads to run', async () => (await f.sessions(user, 'SLEEP(0.3)')) === 3, 5000);
          f.proxy.muteAll();
          return within(Promise.all(reads), 10_000);
        }),
      );
      assert.deepEqual(uncaught, []);
      const settled = value!.value;
      assert.notEqual(settled, 'pending', 'some reads still hang 10 s after the silence');
      assert.deepEqual(settled !== 'pending' && settled.map((r) => (r.ok ? Number(r.value[0]!.n) : r.error.message)), [0, 1, 2]);
      // One check for the three, then a replacement connection for each read.
      assert.equal(value!.connects, 1 + 3);
      assert.equal(getReconnectStats(sequelize).disconnects, 3);
    });

    it('counts a server the check cannot reach either as a lost session, and recovers the read once it is back', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { retries: 20, silenceMs: 2000 } });
      const { uncaught, value } = await uncaughtDuring(async () => {
        const { result, mutedAt } = await silencedMidway(user, 'SLEEP(0.3)', () =>
          sequelize.query<{ answer: unknown }>('SELECT SLEEP(0.3) AS slept, 43 AS answer', { type: QueryTypes.SELECT }),
        );
        f.proxy.refuse(3000);
        return { settled: await within(result, 10_000), elapsed: Date.now() - mutedAt };
      });
      assert.deepEqual(uncaught, []);
      const { settled, elapsed } = value!;
      assert.ok(settled !== 'pending' && settled.ok, settled !== 'pending' && !settled.ok ? settled.error.message : 'pending');
      assert.equal(Number(settled.value[0]!.answer), 43);
      assert.ok(elapsed >= 2000 && elapsed < 6000, `recovered ${elapsed} ms after the silence`);
      assert.equal(getReconnectStats(sequelize).disconnects, 1);
    });

    it('reports a write as mayHaveExecuted, and it ran at most once', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { silenceMs: 2000 } });
      const tag = `silent-${dialect}-${user}`;
      const { uncaught, value } = await uncaughtDuring(async () => {
        const { result, mutedAt } = await silencedMidway(user, 'SLEEP(0.3)', () =>
          sequelize.query(`INSERT INTO items (tag) SELECT '${tag}' FROM (SELECT SLEEP(0.3) AS s) AS slept`),
        );
        return { settled: await within(result, 10_000), elapsed: Date.now() - mutedAt };
      });
      assert.deepEqual(uncaught, []);
      const { settled, elapsed } = value!;
      assert.ok(settled !== 'pending' && !settled.ok, 'the write is rejected');
      assert.ok(settled.error instanceof ConnectionLostError, String(settled.error));
      assert.equal(settled.error['mayHaveExecuted'], true);
      assert.ok(elapsed < 6000, `reported ${elapsed} ms after the silence`);
      const rows = await f.count(tag);
      assert.ok(rows <= 1, `the write ran ${rows} times`);
      console.log(`# ${dialect}: silent write reported ${elapsed} ms after the silence; ${rows} row`);
    });

    it('reports a transaction whose statement went silent as lost', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { silenceMs: 2000 } });
      const transaction = await sequelize.transaction();
      const { uncaught, value } = await uncaughtDuring(async () => {
        const { result } = await silencedMidway(user, 'SLEEP(0.3)', () =>
          sequelize.query('SELECT SLEEP(0.3) AS slept', { type: QueryTypes.SELECT, transaction }),
        );
        return within(result, 10_000);
      });
      assert.deepEqual(uncaught, []);
      assert.ok(value !== undefined && value !== 'pending' && !value.ok, 'the statement is rejected');
      assert.ok(value.error instanceof ConnectionLostError, String(value.error));
      assert.equal(value.error['transactionLost'], true);
      await within(
        transaction.rollback().catch(() => {}),
        5000,
      );
    });

    it('recovers the next read on a pooled connection that went silent while idle', async () => {
      // Validation off, so that the watchdog, not a check on acquire, finds the dead connection.
      const { sequelize } = await f.app(dialect, { plugin: { validateIdleMs: false }, pool: { max: 1 } });
      await sequelize.query('SELECT 1');
      f.proxy.muteAll();
      const started = Date.now();
      const { uncaught, value } = await uncaughtDuring(async () =>
        within(outcome(sequelize.query<{ answer: unknown }>('SELECT 44 AS answer', { type: QueryTypes.SELECT })), 10_000),
      );
      const elapsed = Date.now() - started;
      assert.deepEqual(uncaught, []);
      assert.ok(value !== undefined && value !== 'pending', 'the read still hangs 10 s after it started');
      assert.ok(value.ok, !value.ok ? value.error.message : '');
      assert.equal(Number(value.value[0]!.answer), 44);
      // The default silenceMs (2 s) first, then one recovery.
      assert.ok(elapsed >= 2000 && elapsed < 6000, `recovered ${elapsed} ms after the read started`);
      const stats = getReconnectStats(sequelize);
      assert.equal(stats.disconnects, 1);
      assert.equal(stats.retriesSucceeded, 1);
      console.log(`# ${dialect}: idle silent death, the next read recovered ${elapsed} ms after it started`);
    });

    it('reports the next write on a pooled connection that went silent while idle as mayHaveExecuted, run at most once', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { validateIdleMs: false }, pool: { max: 1 } });
      const tag = `silent-idle-${dialect}-${user}`;
      await sequelize.query('SELECT 1');
      f.proxy.muteAll();
      const started = Date.now();
      const { uncaught, value } = await uncaughtDuring(async () =>
        within(outcome(sequelize.query(`INSERT INTO items (tag) VALUES ('${tag}')`)), 10_000),
      );
      const elapsed = Date.now() - started;
      assert.deepEqual(uncaught, []);
      assert.ok(value !== undefined && value !== 'pending' && !value.ok, 'the write is rejected');
      assert.ok(value.error instanceof ConnectionLostError, String(value.error));
      assert.equal(value.error['mayHaveExecuted'], true);
      assert.ok(elapsed < 6000, `reported ${elapsed} ms after the write started`);
      const rows = await f.count(tag);
      assert.ok(rows <= 1, `the write ran ${rows} times`);
      assert.equal(getReconnectStats(sequelize).disconnects, 1);
      console.log(`# ${dialect}: idle silent death, the next write reported ${elapsed} ms after it started; ${rows} row`);
    });

    it('never cuts a healthy long query', async () => {
      const { sequelize } = await f.app(dialect, { plugin: { silenceMs: 1000 }, pool: { max: 1 } });
      await sequelize.query('SELECT 1');
      const started = Date.now();
      const { uncaught, value } = await uncaughtDuring(() =>
        countingConnects(dialect, () =>
          sequelize.query<{ answer: unknown }>('SELECT SLEEP(4) AS slept, 7 AS answer', { type: QueryTypes.SELECT }),
        ),
      );
      assert.deepEqual(uncaught, []);
      assert.ok(value, 'the query failed');
      assert.ok(value.connects >= 2, `the watchdog asked ${value.connects} times`);
      assert.equal(Number(value.value[0]!.answer), 7);
      assert.ok(Date.now() - started >= 4000);
      const stats = getReconnectStats(sequelize);
      assert.equal(stats.retries, 0);
      assert.equal(stats.disconnects, 0);
    });

    it('abandons a check that logs in and gets no answer after silenceMs, and asks again: the read recovers well before the connect timeout', async () => {
      // connectTimeoutMs stays 5 s: on the old code the unanswered check waited for all of it.
      const { sequelize } = await f.app(dialect, { plugin: { silenceMs: 1000 } });
      f.proxy.arm('silent_check_marker', 'black-hole-after-send');
      f.proxy.arm('PROCESSLIST', 'black-hole-after-send', { times: 1 });
      const started = Date.now();
      const settled = await within(outcome(sequelize.query('SELECT 45 AS silent_check_marker', { type: QueryTypes.SELECT })), 15_000);
      const elapsed = Date.now() - started;
      assert.ok(
        settled !== 'pending' && settled.ok,
        settled === 'pending' ? 'pending 15 s later' : !settled.ok ? settled.error.message : '',
      );
      assert.equal(Number((settled.value as Array<{ silent_check_marker: unknown }>)[0]!.silent_check_marker), 45);
      // silenceMs, the first check abandoned 1 s after its login, silenceMs more, a second check, one recovery: 3-4 s.
      assert.ok(elapsed < 5000, `recovered after ${elapsed} ms`);
      console.log(`# ${dialect}: a check that got no answer: the read recovered after ${elapsed} ms`);
    });

    it('close() is not held by idle connections that went silent', async () => {
      // mysql2's and mariadb's end() do not wait for the server's answer (unlike pg's): bare
      // Sequelize is not held either. A guard: the plugin bounds each graceful end all the same.
      const { sequelize } = await f.app(dialect, { pool: { max: 3 } });
      const pause = () => sequelize.query('SELECT SLEEP(0.05)', { type: QueryTypes.SELECT });
      await Promise.all([pause(), pause(), pause()]);
      f.proxy.blackHoleAll();
      const started = Date.now();
      const closed = await within(sequelize.close(), 4000);
      const elapsed = Date.now() - started;
      f.proxy.closeStranded();
      assert.notEqual(closed, 'pending', 'close() still pending 4 s later');
      assert.ok(elapsed < 1500, `close() took ${elapsed} ms`);
      console.log(`# ${dialect}: close() with 3 silent idle connections: ${elapsed} ms`);
    });

    it('with silenceMs: false, leaves a silenced read waiting (as the driver does)', async () => {
      const { sequelize, user } = await f.app(dialect, { plugin: { silenceMs: false } });
      const { result } = await silencedMidway(user, 'SLEEP(0.3)', () =>
        sequelize.query('SELECT SLEEP(0.3) AS slept', { type: QueryTypes.SELECT }),
      );
      assert.equal(await within(result, 4000), 'pending');
      // What a TCP timeout would do at last: the stranded read fails or is retried, either way it ends.
      f.proxy.closeStranded();
      assert.notEqual(await within(result, 10_000), 'pending');
    });
  });
}

// max_connections is the server's, for everyone on it: lowered on a server of this file's own.
const ownServer = ownMariadbRequirement();
describeWith(ownServer, 'MySQL/MariaDB: a long query on a server at max_connections', () => {
  let server: MariaDbServer;
  let f: MyFixture;
  let admin: Connection;
  before(async () => {
    server = await MariaDbServer.start();
    f = await myFixture(server.url);
    admin = await createConnection(server.url);
    admin.on('error', () => {});
  });
  after(async () => {
    await admin?.query('SET GLOBAL max_connections = 151').catch(() => {});
    await admin?.end().catch(() => admin.destroy());
    await f?.close();
    await server?.destroy();
  });

  for (const dialect of FAMILY) {
    it(`${dialect}: the check refused for too many connections is proof of life: the query is not cut`, async () => {
      const { sequelize, user, password } = await f.app(dialect, { plugin: { silenceMs: 1000 }, pool: { max: 1 } });
      await sequelize.query('SELECT 1');
      // MariaDB's least max_connections is 10: the rest are taken by the app's user, until the server refuses one.
      await admin.query('SET GLOBAL max_connections = 10');
      const fillers: Connection[] = [];
      try {
        let refused: unknown;
        while (refused === undefined && fillers.length < 20) {
          const filler = await outcome(createConnection({ host: f.proxy.host, port: f.proxy.port, user, password }));
          if (filler.ok) {
            filler.value.on('error', () => {});
            fillers.push(filler.value);
          } else refused = filler.error;
        }
        assert.equal(
          (refused as { errno?: unknown } | undefined)?.errno,
          1040,
          `a new connection is refused with 1040: ${String(refused)}`,
        );
        const { uncaught, value } = await uncaughtDuring(() =>
          countingConnects(dialect, () =>
            sequelize.query<{ answer: unknown }>('SELECT SLEEP(3) AS slept, 8 AS answer', { type: QueryTypes.SELECT }),
          ),
        );
        assert.deepEqual(uncaught, []);
        assert.ok(value, 'the query failed');
        assert.ok(value.connects >= 1, `the watchdog asked ${value.connects} times`);
        assert.equal(Number(value.value[0]!.answer), 8);
        const stats = getReconnectStats(sequelize);
        assert.equal(stats.retries, 0);
        assert.equal(stats.disconnects, 0);
      } finally {
        await admin.query('SET GLOBAL max_connections = 151');
        await Promise.all(fillers.map((c) => c.end().catch(() => c.destroy())));
      }
    });
  }
});
