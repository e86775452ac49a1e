/** Types the plugin's options where Sequelize takes options. */
import type { Model } from 'sequelize';
import type { ModelReconnectOptions } from './core/decorations';
import type { ReconnectQueryOption, ReconnectTransactionOption } from './core/option-types';

declare module 'sequelize/types/model' {
  // Every Sequelize method that runs SQL takes `Transactionable` options: query, find, count,
  // create, bulkCreate, update, destroy, upsert, save, increment, ...
  interface Transactionable {
    /**
     * sequelize-autoreconnect: `false` never retries this call; `{ idempotent: true }` marks a
     * write safe to run twice (an upsert, `ON CONFLICT DO NOTHING`, an absolute update);
     * `{ retries }` overrides the retry count.
     */
    reconnect?: ReconnectQueryOption;
  }

  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ModelOptions<M extends Model = Model> {
    /** sequelize-autoreconnect: this model's policy over the plugin's; `false` disables retries. */
    autoReconnect?: ModelReconnectOptions;
  }
}

declare module 'sequelize/types/transaction' {
  interface TransactionOptions {
    /**
     * sequelize-autoreconnect: `{ replay: true }` runs this managed transaction again from the
     * start when its connection was lost before COMMIT (`replayTransactions` for one call).
     */
    reconnect?: ReconnectTransactionOption;
  }
}

export {};
