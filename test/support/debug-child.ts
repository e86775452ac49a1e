/**
 * Run by test/postgres/debug-log.test.ts in a child process, with DEBUG set, so that the `debug` logger
 * Sequelize uses picks the namespace up at load time. Prints its outcome as JSON on stdout;
 * the debug lines go to stderr.
 */
import { QueryTypes, Sequelize } from 'sequelize';
import { autoreconnect, ConnectionLostError, getReconnectStats } from '../../src';

async function main(): Promise<void> {
  const url = process.env['CHILD_URL'];
  const appName = process.env['CHILD_APP'];
  if (!url || !appName) throw new Error('CHILD_URL and CHILD_APP are required');
  const sequelize = new Sequelize(url, { logging: false, dialectOptions: { application_name: appName }, pool: { max: 2, acquire: 5_000 } });
  sequelize.use(autoreconnect({ retries: 2, backoff: { baseMs: 10, maxMs: 20 } }));
  let outcome: string;
  try {
    // The parent kills this statement's backend while it is held at its gate: a read, so it is retried.
    const rows = await sequelize.query<{ held: string }>(`SELECT ${process.env['CHILD_GATE'] ?? 'NULL'} AS held`, {
      type: QueryTypes.SELECT,
    });
    outcome = `rows:${rows.length}`;
  } catch (error) {
    outcome = `error:${(error as Error).name}${error instanceof ConnectionLostError ? ' (a ConnectionLostError)' : ''}`;
  }
  const stats = getReconnectStats(sequelize);
  await sequelize.close();
  process.stdout.write(JSON.stringify({ outcome, stats }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
