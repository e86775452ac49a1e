import type { Sequelize, Transaction } from 'sequelize';
import type { Facade } from '../engine/facade';
import type { ReplayRun } from '../engine/replay';

type Callback = (transaction: Transaction) => Promise<unknown>;
type TransactionMethod = (options?: unknown, callback?: Callback) => Promise<unknown>;
interface WithCommitHooks {
  commit: (this: WithCommitHooks) => Promise<void>;
  _afterCommitHooks: Array<(transaction: unknown) => unknown>;
}

/**
 * `sequelize.transaction(options, callback)` on this instance: a managed, top-level transaction
 * under `replayTransactions` (or `{ reconnect: { replay: true } }`) runs through the engine's
 * replay. Each run is Sequelize's own call (a new Transaction, a new CLS context). Savepoints
 * (`{ transaction }`) and unmanaged transactions are left alone: the outermost managed call replays.
 */
export function patchTransaction(sequelize: Sequelize, facade: Facade): void {
  const target = sequelize as unknown as { transaction: TransactionMethod };
  const original = target.transaction;
  target.transaction = function transaction(this: unknown, options?: unknown, callback?: Callback): Promise<unknown> {
    if (typeof options === 'function') [options, callback] = [undefined, options as Callback];
    const { reconnect, ...rest } = (options ?? {}) as { reconnect?: unknown; transaction?: unknown };
    // Our option never reaches Sequelize (it would pass it on to COMMIT's query options).
    const own = options === undefined || reconnect === undefined ? options : rest;
    let rules: ReturnType<Facade['replays']>;
    try {
      rules = facade.replays(reconnect, typeof callback === 'function');
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof callback !== 'function' || !rules || rest.transaction) return original.call(this, own, callback);
    const run = callback;
    return facade.replayTransaction(rules, (replayRun) =>
      original.call(this, own, (t: Transaction) => {
        replayRun.transaction = t;
        // Its lost COMMIT is worth settling only where a lost connection is replayed.
        if (rules.lost) facade.replayable(t);
        holdCommitHooks(t as unknown as WithCommitHooks, facade, replayRun);
        return run(t);
      }),
    );
  };
}

/**
 * Sequelize runs `afterCommit` hooks even when COMMIT failed. Under replay, a transaction that
 * certainly did not commit (lost before COMMIT, or a conflict) runs none: the replay that
 * commits runs its own, once.
 */
function holdCommitHooks(t: WithCommitHooks, facade: Facade, replayRun: ReplayRun): void {
  const commit = t.commit;
  t.commit = async function (this: WithCommitHooks): Promise<void> {
    const hooks = this._afterCommitHooks;
    this._afterCommitHooks = [];
    let failure: { error: unknown } | undefined;
    try {
      await commit.call(this);
      replayRun.committed = true;
    } catch (error) {
      failure = { error };
    }
    if (!failure || !facade.certainlyNotCommitted(failure.error)) for (const hook of hooks) await hook.apply(this, [this]);
    if (failure) throw failure.error;
  };
}
