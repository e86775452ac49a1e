/**
 * `npm run bench:validation`: what validating idle connections at checkout costs (issue: pool
 * hygiene). Variants interleaved in one run against an embedded PostgreSQL:
 *  A. the first statement after idling past `validateIdleMs` (500 ms by default): validated
 *     (one extra round trip) against `validateIdleMs: false`;
 *  B. a busy `SELECT 1` loop: the default (connections reused within milliseconds, never
 *     validated) against `validateIdleMs: 0` (every checkout validated, like SQLAlchemy's
 *     pool_pre_ping).
 * Prints a Markdown table; exits 0 (timings are never a failure).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes, type Sequelize } from 'sequelize';
import { getReconnectStats } from '../src';
import { testSequelize } from '../test/support/db';
import { TestServer } from '../test/support/postgres';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function timeOne(sequelize: Sequelize): Promise<number> {
  const started = process.hrtime.bigint();
  await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
  return Number(process.hrtime.bigint() - started) / 1000;
}

async function loop(sequelize: Sequelize, n: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
  return Number(process.hrtime.bigint() - started) / 1000 / n;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const server = await TestServer.start();
  try {
    const make = (validateIdleMs: number | false): Sequelize =>
      testSequelize(server.url, { appName: `bench_validate_${String(validateIdleMs)}`, plugin: { validateIdleMs }, pool: { max: 1 } });

    // A. After idling 550 ms.
    const validated = make(500);
    const unvalidated = make(false);
    await Promise.all([timeOne(validated), timeOne(unvalidated)]);
    const afterIdle: Record<'validated' | 'unvalidated', number[]> = { validated: [], unvalidated: [] };
    for (let round = 0; round < (quick ? 6 : 20); round++) {
      await sleep(550);
      // Alternate which goes first, so neither always meets a warmer server.
      const order = round % 2 === 0 ? (['validated', 'unvalidated'] as const) : (['unvalidated', 'validated'] as const);
      for (const variant of order) afterIdle[variant].push(await timeOne(variant === 'validated' ? validated : unvalidated));
    }
    const validations = getReconnectStats(validated).validations;
    await Promise.all([validated.close(), unvalidated.close()]);

    // B. A busy loop.
    const byDefault = make(500);
    const always = make(0);
    await Promise.all([loop(byDefault, 200), loop(always, 200)]);
    const busy: Record<'byDefault' | 'always', number[]> = { byDefault: [], always: [] };
    for (let round = 0; round < (quick ? 4 : 10); round++) {
      const order = round % 2 === 0 ? (['byDefault', 'always'] as const) : (['always', 'byDefault'] as const);
      for (const variant of order) busy[variant].push(await loop(variant === 'always' ? always : byDefault, quick ? 500 : 2000));
    }
    await Promise.all([byDefault.close(), always.close()]);

    const a = { validated: median(afterIdle.validated), unvalidated: median(afterIdle.unvalidated) };
    const b = { byDefault: median(busy.byDefault), always: median(busy.always) };
    console.log(`| pre-ping | median | note |
|---|---:|---|
| first \`SELECT 1\` after 550 ms idle, \`validateIdleMs: false\` | ${a.unvalidated.toFixed(0)} µs | |
| first \`SELECT 1\` after 550 ms idle, validated (default 500 ms) | ${a.validated.toFixed(0)} µs | +${(a.validated - a.unvalidated).toFixed(0)} µs: one round trip (${validations} validations) |
| busy \`SELECT 1\` loop, default (never validated: reused within ms) | ${b.byDefault.toFixed(1)} µs/query | |
| busy \`SELECT 1\` loop, \`validateIdleMs: 0\` (every checkout) | ${b.always.toFixed(1)} µs/query | throughput ratio ${(b.byDefault / b.always).toFixed(2)} |`);
  } finally {
    await server.destroy();
  }
}

void main();
