import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { postgresOutcomes } from '../../src/dialects/postgres/outcomes';
import { createDatabase } from '../support/db';
import { TestServer } from '../support/postgres';

/** The SQL that settles a lost COMMIT, run on real connections of a real server. */
describe('asking PostgreSQL what became of a transaction', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  const clients: Client[] = [];
  const connect = async () => {
    const client = new Client({ connectionString: db.url });
    client.on('error', () => {});
    await client.connect();
    clients.push(client);
    return client;
  };
  before(async () => {
    db = await createDatabase();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await db.drop();
  });

  it('learns the id, session and server history of a transaction in one round trip, and reads its outcome from another session', async () => {
    const writer = await connect();
    const asker = await connect();
    const ids = await postgresOutcomes.begin(writer);
    assert.match(ids.xid ?? '', /^\d+$/);
    assert.equal(ids.pid, (writer as unknown as { processID: number }).processID);
    assert.match(ids.history ?? '', /^\d+\/[0-9A-F]{8}\/[\d.]+$/);
    assert.equal(await postgresOutcomes.status(asker, ids), 'in progress');
    await postgresOutcomes.commit(writer);
    assert.equal(await postgresOutcomes.status(asker, ids), 'committed');
    const rolledBack = await postgresOutcomes.begin(writer);
    await postgresOutcomes.rollback(writer);
    assert.equal(await postgresOutcomes.status(asker, rolledBack), 'aborted');
  });

  it('takes no answer from another server history (a promoted standby reuses ids) or an unknown one', async () => {
    const writer = await connect();
    const asker = await connect();
    const ids = await postgresOutcomes.begin(writer);
    await postgresOutcomes.commit(writer);
    const otherTimeline = ids.history!.replace(/\/[0-9A-F]{8}\//, '/7FFFFFFF/');
    const restarted = ids.history!.replace(/\/[\d.]+$/, '/1');
    assert.equal(await postgresOutcomes.status(asker, { ...ids, history: restarted }), 'unknown', 'a server restarted since');
    assert.equal(await postgresOutcomes.status(asker, { ...ids, history: otherTimeline }), 'unknown');
    assert.equal(await postgresOutcomes.status(asker, { ...ids, history: `1${ids.history!}` }), 'unknown');
    assert.equal(await postgresOutcomes.status(asker, { ...ids, history: null }), 'unknown');
  });

  it('has no answer about an id the server never gave out', async () => {
    const asker = await connect();
    const ids = await postgresOutcomes.begin(asker);
    await postgresOutcomes.rollback(asker);
    const future = (BigInt(ids.xid!) + 1_000_000n).toString();
    assert.equal(await postgresOutcomes.status(asker, { ...ids, xid: future }), 'unknown');
  });

  it('takes no answer from a server that restarted since: after a crash it may hand out the same id again', async () => {
    const server = await TestServer.start();
    const open = async () => {
      const client = new Client({ connectionString: server.url });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    try {
      const writer = await open();
      const ids = await postgresOutcomes.begin(writer);
      await postgresOutcomes.commit(writer);
      const before = await open();
      assert.equal(await postgresOutcomes.status(before, ids), 'committed');
      await Promise.all([writer.end(), before.end()]);
      await server.shutdown('immediate');
      await server.start();
      const after = await open();
      try {
        // A transaction that wrote nothing has its commit record flushed lazily: the crash lost
        // it, and the server hands the id out again. Once another transaction committed with it,
        // the old answer would be "committed", about that other transaction.
        for (let i = 0; i < 1000; i++) {
          const { rows } = await after.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
          if (BigInt(rows[0]!.xid) >= BigInt(ids.xid!)) break;
        }
        assert.equal(await postgresOutcomes.status(after, ids), 'unknown');
      } finally {
        await after.end();
      }
    } finally {
      await server.destroy();
    }
  });
});
