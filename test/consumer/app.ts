// A strict TypeScript user of the installed tarball: type-checked (not run) by test/consumer.test.ts
// under `moduleResolution: nodenext` (this file is an ES module: "type": "module") and `bundler`.
// Every `@ts-expect-error` line must fail to compile, so types that silently became `any`, or
// augmentations that went missing, fail the check.
import 'reflect-metadata';
import { QueryTypes, type Transaction } from 'sequelize';
import { Column, DataType, Model, Sequelize, Table } from 'sequelize-typescript';
import pkg, {
  AfterReconnect,
  AutoReconnect,
  BeforeReconnect,
  ConnectionLostError,
  autoreconnect,
  getReconnectStats,
  instrumentOpenTelemetry,
  type AfterReconnectContext,
  type AutoReconnectOptions,
  type GiveUpReason,
  type ReconnectContext,
  type ReconnectStats,
} from 'sequelize-autoreconnect';

@AutoReconnect(false)
@Table({ tableName: 'ledger_entries', timestamps: false })
export class LedgerEntry extends Model {
  @Column(DataType.INTEGER)
  declare amount: number;
}

@Table({ tableName: 'cache_entries', timestamps: false })
@AutoReconnect({ retries: 5, retryWrites: 'always', backoff: { baseMs: 10 } })
export class CacheEntry extends Model {
  @Column(DataType.TEXT)
  declare key: string;

  @BeforeReconnect
  static refresh(ctx: ReconnectContext): void {
    ctx.config.password = 'from-vault';
  }

  @AfterReconnect
  static note(ctx: AfterReconnectContext): void {
    const ok: boolean = ctx.reconnected;
    void ok;
  }
}

// @ts-expect-error a decorator option of the wrong type
@AutoReconnect({ retries: 'two' })
export class Broken extends Model {}

const options: AutoReconnectOptions = {
  retries: 3,
  deadlineMs: 5_000,
  retryWrites: 'unsent',
  validateIdleMs: false,
  maxLifetimeMs: 600_000,
};

export async function main(url: string): Promise<ReconnectStats> {
  const sequelize = new Sequelize(url, {
    models: [LedgerEntry, CacheEntry],
    hooks: {
      beforeReconnect: (ctx) => {
        const phase: 'connect' | 'query' | 'transaction' = ctx.phase;
        void phase;
      },
    },
  });
  const same: Sequelize = sequelize.use(autoreconnect(options));
  void same;
  void pkg.autoreconnect;

  // @ts-expect-error a typo in an option name
  autoreconnect({ retires: 3 });
  // @ts-expect-error an unknown value
  autoreconnect({ retryWrites: 'sometimes' });
  // @ts-expect-error use() takes a plugin
  sequelize.use({});

  sequelize.addHook('beforeReconnect', async (ctx) => {
    ctx.config.password = await Promise.resolve('rotated');
    const transaction: Transaction | undefined = ctx.transaction;
    // @ts-expect-error the attempt is a number
    const attempt: string = ctx.attempt;
    void [transaction, attempt];
  });
  sequelize.addHook('afterReconnect', 'metrics', (ctx) => void ctx.reconnectError);
  // @ts-expect-error the hook gets a context object
  sequelize.addHook('beforeReconnect', (ctx: string) => void ctx);

  await sequelize.query('SELECT 1', { type: QueryTypes.SELECT, reconnect: { retries: 2 } });
  await LedgerEntry.findAll({ reconnect: false });
  await CacheEntry.upsert({ key: 'k' }, { reconnect: { idempotent: true } });
  // @ts-expect-error reconnect is false or an object
  await LedgerEntry.findAll({ reconnect: true });
  // @ts-expect-error idempotent is a boolean
  await CacheEntry.destroy({ where: {}, reconnect: { idempotent: 'yes' } });

  try {
    await LedgerEntry.create({ amount: 1 });
  } catch (error) {
    if (error instanceof ConnectionLostError) {
      const reason: GiveUpReason = error.reason;
      const known: boolean = error.mayHaveExecuted || error.transactionLost;
      // @ts-expect-error mayHaveExecuted is a boolean
      const wrong: string = error.mayHaveExecuted;
      void [reason, known, wrong];
    }
  }
  // The types name nothing from @opentelemetry/api, which this project does not install.
  const telemetry = instrumentOpenTelemetry({ spanEvents: false, meterProvider: false });
  telemetry.disable();
  // @ts-expect-error spanEvents is a boolean
  instrumentOpenTelemetry({ spanEvents: 'yes' });
  return getReconnectStats(sequelize);
}
