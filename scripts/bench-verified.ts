/**
 * `npm run bench:verified`: what `retryWrites: 'verified'` costs a write that succeeds (issue
 * 13). Model.create under the default (`'unsent'`) and under `'verified'`, variants interleaved
 * in one run against an embedded PostgreSQL, on loopback and through a proxy adding 1 ms each
 * way (a network hop). Counts the round trips each write makes (pg queries sent per create).
 * Prints a Markdown table; exits 0 (timings are never a failure).
 */
import { DataTypes, type Sequelize } from 'sequelize';
import { admin, createDatabase, withHostPort } from '../test/support/db';
import { testSequelize } from '../test/support/db';
import { FaultProxy } from '../test/support/fault-proxy';
import { TestServer } from '../test/support/postgres';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
type Variant = 'unsent' | 'verified';

/** Writes per second of `concurrency` workers creating rows for `ms`. */
async function round(sequelize: Sequelize, concurrency: number, ms: number): Promise<number> {
  const Item = sequelize.models['Item']!;
  const until = Date.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        await Item.create({ tag: 'bench' });
        done++;
      }
    }),
  );
  return (done * 1000) / ms;
}

/** pg queries (round trips: pg sends one at a time per connection) per create. */
function countQueries(sequelize: Sequelize): () => number {
  let n = 0;
  sequelize.addHook('afterConnect', (connection: unknown) => {
    const c = connection as { query: (...args: unknown[]) => unknown };
    const query = c.query.bind(c);
    c.query = (...args: unknown[]) => {
      n++;
      return query(...args);
    };
  });
  return () => n;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 4 : 12;
  const server = await TestServer.start();
  const db = await createDatabase(server.url);
  await admin(db.url, (c) =>
    c.query('CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL, "createdAt" timestamptz, "updatedAt" timestamptz)'),
  );
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: server.port }, delayMs: 1 });
  const rows: string[] = [];
  try {
    for (const [network, url] of [
      ['loopback', db.url],
      ['+1 ms each way', withHostPort(db.url, proxy.host, proxy.port)],
    ] as const) {
      for (const concurrency of [1, 8]) {
        const make = (retryWrites: Variant) => {
          const s = testSequelize(url, { appName: `bench_verified_${retryWrites}`, plugin: { retryWrites }, pool: { max: concurrency } });
          s.define('Item', { tag: { type: DataTypes.TEXT } }, { tableName: 'items' });
          return s;
        };
        const instances = { unsent: make('unsent'), verified: make('verified') };
        const counters = { unsent: countQueries(instances.unsent), verified: countQueries(instances.verified) };
        const perSecond: Record<Variant, number[]> = { unsent: [], verified: [] };
        for (const v of ['unsent', 'verified'] as const) await round(instances[v], concurrency, 200);
        const before = { unsent: counters.unsent(), verified: counters.verified() };
        const created = { unsent: 0, verified: 0 };
        for (let r = 0; r < rounds; r++) {
          const order: Variant[] = r % 2 === 0 ? ['unsent', 'verified'] : ['verified', 'unsent'];
          for (const v of order) {
            const rate = await round(instances[v], concurrency, 250);
            perSecond[v].push(rate);
            created[v] += Math.round(rate / 4);
          }
        }
        const trips = (v: Variant) => (counters[v]() - before[v]) / created[v];
        const [u, ver] = [median(perSecond.unsent), median(perSecond.verified)];
        rows.push(
          `| ${network} | ${concurrency} | ${u.toFixed(0)} | ${ver.toFixed(0)} | ${(ver / u).toFixed(2)} | ${trips('unsent').toFixed(1)} | ${trips('verified').toFixed(1)} |`,
        );
        await Promise.all([instances.unsent.close(), instances.verified.close()]);
      }
    }
    console.log(`| network | concurrency | creates/s unsent (default) | creates/s verified | ratio | round trips/create unsent | verified |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`);
  } finally {
    await proxy.close();
    await db.drop();
    await server.destroy();
  }
}

void main();
