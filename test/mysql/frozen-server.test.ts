/**
 * A real frozen server (mariadbd stopped with SIGSTOP, as a hung VM), on mysql2 and the mariadb
 * connector: the kernel still completes TCP handshakes, nothing answers. With the defaults'
 * watchdog on, a read in flight is found lost by a check that cannot log in, connects are
 * bounded, and the read is recovered once the server thaws; a connect to the frozen server ends
 * by the deadline.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { QueryTypes, type Options } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { outcome } from '../support/fixture';
import { MariaDbServer, ownMariadbRequirement } from '../support/mariadb';
import { FAMILY, myFixture, type MyFixture } from '../support/mysql';
import { uncaughtDuring } from '../support/transparency/errors';

/** Resolves once `check()` holds, polled every 20 ms; rejects after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Frozen is the whole server, for everyone on it: a server of this file's own.
const ownServer = ownMariadbRequirement();
describeWith(ownServer, 'MySQL/MariaDB: a frozen server, thawed later (SIGSTOP)', () => {
  let server: MariaDbServer;
  let f: MyFixture;
  let watcher: Connection;
  /** The server's version as Sequelize reads it, so that an instance's first connection is the operation's own. */
  let version: string;
  before(async () => {
    server = await MariaDbServer.start();
    f = await myFixture(server.url);
    watcher = await createConnection(server.url);
    watcher.on('error', () => {});
    const [rows] = await watcher.query<RowDataPacket[]>('SELECT VERSION() AS v');
    version = /^\d+\.\d+\.\d+/.exec(String(rows[0]!['v']))![0];
  });
  after(async () => {
    server?.thaw();
    await watcher?.end().catch(() => watcher.destroy());
    await f?.close();
    await server?.destroy();
  });

  /** Resolves once a statement of `user` containing `fragment` runs on the server (polled; never while frozen). */
  const running = async (user: string, fragment: string) => {
    for (let i = 0; i < 1000; i++) {
      const [rows] = await watcher.query<RowDataPacket[]>(
        "SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND IN ('Query', 'Execute') AND INFO LIKE ?",
        [user, `%${fragment}%`],
      );
      if (Number(rows[0]!['n']) > 0) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no statement like ${fragment} of ${user} ever ran`);
  };

  for (const dialect of FAMILY) {
    it(`${dialect}: recovers a read in flight when the server froze, once it thaws; connects to it are bounded meanwhile`, async () => {
      // Defaults but for the connect bound (1 s, so that several attempts fit) and room to ride out the freeze.
      const { sequelize, user } = await f.app(dialect, {
        proxied: false,
        plugin: { retries: 100, deadlineMs: 30_000, connectTimeoutMs: 1000 },
      });
      await sequelize.query('SELECT 1');
      const stats = () => getReconnectStats(sequelize);
      const { uncaught, value, error } = await uncaughtDuring(async () => {
        const result = outcome(
          sequelize.query<{ answer: unknown }>('SELECT SLEEP(0.5) AS slept, 7 AS answer', { type: QueryTypes.SELECT }),
        );
        await running(user, 'SLEEP(0.5)');
        server.freeze();
        const frozenAt = Date.now();
        let detectedMs: number;
        try {
          // Found lost while frozen: silence (2 s, up to a tick more), then a check that cannot log in (1 s).
          await until(() => stats().disconnects === 1, 8000, 'the silent read found lost');
          detectedMs = Date.now() - frozenAt;
          // A retry's connect to the frozen server is abandoned at its bound, not left hanging.
          await until(() => stats().reconnectFailures + stats().connectFailures >= 1, 4000, 'a connect abandoned');
        } finally {
          server.thaw();
        }
        const thawedAt = Date.now();
        return { settled: await result, detectedMs, recoveredMs: Date.now() - thawedAt };
      });
      assert.deepEqual(uncaught, []);
      assert.ok(value, String(error));
      const { settled, detectedMs, recoveredMs } = value;
      assert.ok(detectedMs >= 2000, `found lost after ${detectedMs} ms: before silenceMs`);
      assert.ok(settled.ok, `the read failed: ${String(!settled.ok && settled.error)}`);
      assert.equal(Number(settled.value[0]!.answer), 7);
      assert.ok(recoveredMs < 4000, `recovered ${recoveredMs} ms after the thaw`);
      assert.equal(stats().retriesSucceeded, 1);
      console.log(
        `# ${dialect}, frozen server: read found lost ${detectedMs} ms after the freeze, recovered ${recoveredMs} ms after the thaw`,
      );
    });

    it(`${dialect}: ends a connect to the frozen server by its deadline, with ConnectionLostError`, async () => {
      // A known version (Sequelize's option, missing from its types): the first connection of the instance is the operation's own.
      const known = { databaseVersion: version } as unknown as Options;
      const { sequelize } = await f.app(dialect, { proxied: false, ...known, plugin: { deadlineMs: 3000 } });
      server.freeze();
      let elapsed: number;
      let settled: Awaited<ReturnType<typeof outcome<unknown>>>;
      try {
        const started = Date.now();
        settled = await outcome(sequelize.query('SELECT 1', { type: QueryTypes.SELECT }));
        elapsed = Date.now() - started;
      } finally {
        server.thaw();
      }
      assert.ok(!settled.ok && settled.error instanceof ConnectionLostError, String(!settled.ok && settled.error));
      assert.equal(settled.error.phase, 'connect');
      assert.ok(elapsed < 3000 + 1500, `gave up ${elapsed} ms after the call (deadline 3000 ms)`);
      console.log(`# ${dialect}, frozen server: a connect gave up ${elapsed} ms after the call (deadline 3000 ms)`);
      const rows = await sequelize.query<{ one: unknown }>('SELECT 1 AS one', { type: QueryTypes.SELECT });
      assert.equal(Number(rows[0]!.one), 1);
    });
  }
});
