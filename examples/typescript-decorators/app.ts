// TypeScript with sequelize-typescript decorators: per-model policies with @AutoReconnect and a
// model hook with @BeforeReconnect. Runs as written under tsx (npm run example --
// typescript-decorators) and under tsc, with examples/tsconfig.json: each @Column names its
// DataType (tsx and esbuild emit no decorator metadata, from which sequelize-typescript would
// infer it), and `useDefineForClassFields: false` keeps `amount!: number` a type only, not an
// ES2022 class field that would shadow the Sequelize attribute.
import 'reflect-metadata';
import { Client } from 'pg';
import { literal } from 'sequelize';
import { Column, DataType, Model, Sequelize, Table } from 'sequelize-typescript';
import { AutoReconnect, BeforeReconnect, autoreconnect, getReconnectStats, type ReconnectContext } from 'sequelize-autoreconnect';

const url = process.env['DATABASE_URL'];
if (!url) throw new Error('set DATABASE_URL to a PostgreSQL URL');
const appName = 'example-typescript';

/** An append-only ledger: its writes are never retried, whatever the plugin's options say. */
@AutoReconnect({ retryWrites: 'never' })
@Table({ tableName: 'example_ledger', timestamps: false })
class LedgerEntry extends Model {
  @Column(DataType.INTEGER) amount!: number;

  @BeforeReconnect
  static noteRetry(ctx: ReconnectContext): void {
    console.log(`retrying a ${ctx.model?.name ?? '?'} statement after: ${ctx.error.message}`);
  }
}

/** A cache: anything may be retried, more often. */
@Table({ tableName: 'example_cache', timestamps: false })
@AutoReconnect({ retries: 5, retryWrites: 'always' })
class CacheEntry extends Model {
  @Column({ type: DataType.STRING, primaryKey: true }) key!: string;
  @Column(DataType.STRING) value!: string;
}

async function main(): Promise<void> {
  const sequelize = new Sequelize(url!, {
    logging: false,
    models: [LedgerEntry, CacheEntry],
    dialectOptions: { application_name: appName },
  });
  sequelize.use(autoreconnect());
  try {
    await sequelize.sync({ force: true });
    await LedgerEntry.bulkCreate([{ amount: 10 }, { amount: 32 }]);
    await CacheEntry.upsert({ key: 'greeting', value: 'hello' });

    // The server ends the session under a read of the ledger: the model's hook runs, the read is retried.
    const entries = await endSessionWhileRunning(() => LedgerEntry.findAll({ where: literal('(SELECT true FROM pg_sleep(0.5))') }));
    console.log(`ledger total: ${entries.reduce((sum, e) => sum + e.amount, 0)}`);
    const cached = await CacheEntry.findByPk('greeting');
    console.log(`cache: ${cached?.value}`);
    console.log(`stats: ${JSON.stringify(getReconnectStats(sequelize))}`);
  } finally {
    await sequelize.close();
  }
}

/** A real fault: once `run`'s statement is running, the server ends its session. */
async function endSessionWhileRunning<T>(run: () => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    const pending = run();
    pending.catch(() => {}); // awaited below
    const deadline = Date.now() + 10_000;
    while ((await terminateRunning(admin)) === 0) {
      if (Date.now() > deadline) throw new Error('the statement never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return await pending;
  } finally {
    await admin.end();
  }
}

async function terminateRunning(admin: Client): Promise<number> {
  const { rowCount } = await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
    [appName],
  );
  return rowCount ?? 0;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
