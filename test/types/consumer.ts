/**
 * Type tests: checked by `npm run typecheck` (tsc --noEmit, strict). Each `@ts-expect-error`
 * line must fail to compile, or the check fails. Never run.
 */
import {
  ConnectionRefusedError,
  DataTypes,
  Model,
  QueryTypes,
  Sequelize,
  type InferAttributes,
  type InferCreationAttributes,
} from 'sequelize';
import {
  AfterReconnect,
  AutoReconnect,
  BeforeReconnect,
  ConnectionLostError,
  autoreconnect,
  type ConnectFailureError,
  getReconnectStats,
  type AfterReconnectContext,
  type ReconnectContext,
  type ReconnectStats,
} from 'sequelize-autoreconnect';

export async function consumer(): Promise<void> {
  const sequelize = new Sequelize('postgres://localhost/db', {
    hooks: {
      beforeReconnect: (ctx) => {
        ctx.config.password = 'from-vault';
      },
      afterReconnect: async (ctx) => {
        const ok: boolean = ctx.reconnected;
        void ok;
      },
    },
  });
  const same: Sequelize = sequelize.use(
    autoreconnect({ retries: 3, backoff: { baseMs: 50, maxMs: 1000 }, deadlineMs: 5000, retryWrites: 'unsent' }),
  );
  void same;

  // @ts-expect-error a typo in an option name
  autoreconnect({ retires: 3 });
  // @ts-expect-error an option of the wrong type
  autoreconnect({ retries: '3' });
  // @ts-expect-error an unknown value
  autoreconnect({ retryWrites: 'sometimes' });

  sequelize.addHook('beforeReconnect', (ctx) => {
    const attempt: number = ctx.attempt;
    const phase: 'connect' | 'query' | 'transaction' = ctx.phase;
    const sql: string | undefined = ctx.sql;
    void [attempt, phase, sql];
  });
  sequelize.addHook('afterReconnect', 'metrics', (ctx: AfterReconnectContext) => void ctx.reconnectError);
  sequelize.removeHook('afterReconnect', 'metrics');
  // @ts-expect-error the hook gets a context object, not a string
  sequelize.addHook('beforeReconnect', (ctx: string) => void ctx);

  class Order extends Model<InferAttributes<Order>, InferCreationAttributes<Order>> {
    declare id: number;
    declare total: number;
  }
  Order.init(
    { id: { type: DataTypes.INTEGER, primaryKey: true }, total: DataTypes.INTEGER },
    { sequelize, autoReconnect: { retryWrites: 'never' } },
  );
  Order.addHook('beforeReconnect', (ctx: ReconnectContext) => void ctx.model);

  await sequelize.query('SELECT 1', { type: QueryTypes.SELECT, reconnect: { retries: 2 } });
  await Order.findAll({ reconnect: false });
  await Order.count({ reconnect: { retries: 0 } });
  await Order.create({ id: 1, total: 2 }, { reconnect: { idempotent: false } });
  await Order.upsert({ id: 1, total: 3 }, { reconnect: { idempotent: true } });
  await Order.update({ total: 4 }, { where: { id: 1 }, reconnect: { idempotent: true } });
  await Order.destroy({ where: { id: 1 }, reconnect: false });
  // @ts-expect-error idempotent is a boolean
  await Order.update({ total: 4 }, { where: { id: 1 }, reconnect: { idempotent: 'yes' } });
  // @ts-expect-error reconnect is false or an object
  await Order.findAll({ reconnect: true });

  // @ts-expect-error a model option of the wrong type
  Order.init({}, { sequelize, autoReconnect: { retries: 'many' } });

  try {
    await Order.create({ id: 2, total: 1 });
  } catch (error) {
    if (error instanceof ConnectionLostError) {
      const known: boolean = error.mayHaveExecuted && !error.transactionLost;
      const attempts: number = error.attempts;
      const parent: Error = error.parent;
      void [known, attempts, parent];
    }
  }
  try {
    await sequelize.authenticate();
  } catch (error) {
    if (error instanceof ConnectionRefusedError && error instanceof ConnectionLostError) {
      const refused: ConnectFailureError<ConnectionRefusedError> = error as ConnectFailureError<ConnectionRefusedError>;
      const notRun: false = refused.mayHaveExecuted;
      void notRun;
    }
  }

  // Class-level hooks (every instance with the plugin) and the process-wide install.
  Sequelize.addHook('beforeReconnect', 'credentials', (ctx: ReconnectContext) => {
    ctx.config.password = 'from-vault';
  });
  Sequelize.addHook('afterInit', (s) => void s.use(autoreconnect()));

  const stats: ReconnectStats = getReconnectStats(sequelize);
  void stats.retriesSucceeded;
}

// Decorators, as sequelize-typescript users write them (experimentalDecorators in this tsconfig).
@AutoReconnect(false)
export class Ledger extends Model {
  @BeforeReconnect
  static before(ctx: ReconnectContext): void {
    void ctx;
  }

  @AfterReconnect
  static after(ctx: AfterReconnectContext): void {
    void ctx;
  }
}

// @ts-expect-error a decorator option of the wrong type
@AutoReconnect({ retries: 'two' })
export class Cache extends Model {}
