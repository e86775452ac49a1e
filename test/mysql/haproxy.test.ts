/**
 * MySQL/MariaDB behind a real HAProxy in TCP mode: an idle connection closed by `timeout client`
 * just as the next statement is on its way, and HAProxy restarted under load.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { DatabaseError, QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../../src';
import { describeWith } from '../support/binaries';
import { FaultProxy } from '../support/fault-proxy';
import { outcome } from '../support/fixture';
import { HAProxy, haproxyBinary } from '../support/haproxy';
import { mariadbRequirement } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, useMyFixture } from '../support/mysql';
import { describeErrors, startWorkers, until } from '../support/workload';

const TIMEOUT_MS = 600;
const requirement = mariadbRequirement().skip || mariadbRequirement().failure ? mariadbRequirement() : haproxyBinary();

for (const dialect of FAMILY) {
  describeWith(requirement, `${dialect}: behind HAProxy (TCP mode)`, () => {
    const f = useMyFixture();
    let haproxy: HAProxy;
    before(async () => {
      const server = new URL(f.url);
      haproxy = await HAProxy.start({
        target: { host: server.hostname, port: Number(server.port) },
        timeoutClientMs: TIMEOUT_MS,
        timeoutServerMs: TIMEOUT_MS,
      });
    });
    after(async () => {
      await haproxy?.close();
    });

    it('a statement sent while HAProxy closes the idle connection: bare fails, reads are retried, a plain write is reported', async () => {
      const relay = await FaultProxy.start({ target: { host: haproxy.host, port: haproxy.port } });
      const opts = { via: relay, pool: { max: 1 }, plugin: { validateIdleMs: false } } as const;
      try {
        const bare = (await f.app(dialect, { ...opts, plugin: false })).sequelize;
        const reader = (await f.app(dialect, opts)).sequelize;
        const writer = (await f.app(dialect, opts)).sequelize;
        await Promise.all([bare, reader, writer].map((s) => s.query('SELECT 1', { type: QueryTypes.SELECT })));
        relay.holdReplies();
        await until('HAProxy to close the three idle connections', () => relay.heldCloseCount === 3);
        const tag = `${dialect}-haproxy-write`;
        const [bareRead, read, write] = await Promise.all([
          outcome(bare.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
          outcome(reader.query('SELECT 42 AS n', { type: QueryTypes.SELECT })),
          outcome(writer.query(`INSERT INTO items (tag) VALUES ('${tag}')`, { type: QueryTypes.INSERT })),
        ]);
        assert.ok(!bareRead.ok && bareRead.error instanceof DatabaseError, 'bare Sequelize fails the read');
        assert.ok(read.ok, !read.ok ? read.error.message : '');
        assert.equal(Number((read.value as Array<{ n: unknown }>)[0]!.n), 42);
        assert.equal(getReconnectStats(reader).retriesSucceeded, 1);
        // Forwarded or not, the client cannot know: reported, never repeated.
        assert.ok(!write.ok && write.error instanceof ConnectionLostError, !write.ok ? write.error.message : 'resolved');
        assert.equal(write.error.mayHaveExecuted, true);
        assert.ok((await f.count(tag)) <= 1);
        for (const s of [reader, writer]) await assertMyPoolIntact(s);
      } finally {
        await relay.close();
      }
    });

    it('HAProxy restarted under load: bare Sequelize fails operations, the plugin none', async () => {
      const server = new URL(f.url);
      const restarting = await HAProxy.start({ target: { host: server.hostname, port: Number(server.port) } });
      const { sequelize } = await f.app(dialect, {
        via: restarting,
        pool: { max: 5 },
        plugin: { retries: 1000, deadlineMs: 20_000, backoff: { baseMs: 20, maxMs: 200 } },
      });
      const bare = (await f.app(dialect, { via: restarting, plugin: false, pool: { max: 3 } })).sequelize;
      const read = (s: Sequelize) => () => s.query('SELECT SLEEP(0.02), 1 AS n', { type: QueryTypes.SELECT });
      const plugin = startWorkers(5, read(sequelize));
      const bareWorkers = startWorkers(3, read(bare));
      try {
        await until('both to run', () => plugin.results.ok >= 10 && bareWorkers.results.ok >= 5);
        await restarting.stop();
        const met = () => getReconnectStats(sequelize).disconnects + getReconnectStats(sequelize).connectFailures > 0;
        await until('both to meet the outage', () => bareWorkers.results.errors.length > 0 && met());
        await restarting.restart();
        const okAtRestart = plugin.results.ok;
        await until('the plugin to run through HAProxy again', () => plugin.results.ok >= okAtRestart + 20);
        const [withPlugin, withoutPlugin] = await Promise.all([plugin.stop(), bareWorkers.stop()]);
        assert.deepEqual(describeErrors(withPlugin.errors), []);
        assert.ok(withoutPlugin.errors.length > 0, 'bare Sequelize fails while HAProxy restarts');
        assert.equal(getReconnectStats(sequelize).retriesFailed, 0);
        await assertMyPoolIntact(sequelize);
      } finally {
        await Promise.all([plugin.stop(), bareWorkers.stop()]);
        await restarting.close();
      }
    });
  });
}
