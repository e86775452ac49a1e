import { kModel } from '../core/policy';
import type { FastPath } from '../engine/fast-path';
import type { AcquireOptions, Connection, QueryLike } from '../engine/port';
import type { ConnectionManagerInternals, Internals, QueryClass } from './probe';

/** Routes this instance's `getConnection` through the engine's fast path. */
export function patchGetConnection(cm: ConnectionManagerInternals, fast: FastPath): void {
  cm.getConnection = function getConnection(options?: AcquireOptions): Promise<Connection> {
    return fast.acquire(options ?? {});
  };
}

/**
 * Gives this instance its own subclass of the dialect's Query class (Sequelize creates queries
 * with `sequelize.dialect.Query`), whose `run` has the engine watch the statement's promise.
 * The dialect's `run` is async, so it never throws synchronously. Returns a way to run a
 * statement past the patch, for the engine's retries.
 */
export function patchQuery(internals: Internals, fast: FastPath): (query: QueryLike, sql: string, parameters: unknown) => Promise<unknown> {
  const { dialect } = internals;
  const Base: QueryClass = dialect.Query;
  class AutoReconnectQuery extends Base {
    override run(sql: string, parameters?: unknown): Promise<unknown> {
      // A closure only for the statements the engine wraps: the common case allocates nothing more.
      const wrap = fast.wraps(this, sql);
      const running = wrap ? fast.runWrapped(wrap, this, () => super.run(sql, parameters)) : super.run(sql, parameters);
      return fast.watch(this, sql, parameters, running);
    }
  }
  dialect.Query = AutoReconnectQuery;
  const { run } = Base.prototype as { run: (this: unknown, sql: string, parameters?: unknown) => Promise<unknown> };
  return (query, sql, parameters) => run.call(query, sql, parameters);
}

/**
 * Sequelize passes the model to `rawSelect` (count, max, sum, ...) and `bulkDelete`
 * (`Model.destroy`) as an argument but not in the options that reach the query, so the
 * model's policy and hooks would not apply to them. Tag those options with it, on this
 * instance's query interface only.
 */
export function patchQueryInterface(internals: Internals): void {
  const qi = internals.queryInterface;
  const { rawSelect, bulkDelete } = qi;
  qi.rawSelect = function (tableName, options, attributeSelector, model) {
    return rawSelect.call(this, tableName, tagged(options, model), attributeSelector, model);
  };
  qi.bulkDelete = function (tableName, where, options, model) {
    return bulkDelete.call(this, tableName, where, tagged(options, model), model);
  };
}

function tagged(options: object | undefined, model: unknown): object | undefined {
  return typeof model === 'function' ? { ...options, [kModel]: model } : options;
}
