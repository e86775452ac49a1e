import { BaseError } from 'sequelize';
import { kModel } from '../core/policy';
import { withCallerStack } from '../errors';
import type { Facade } from '../engine/facade';
import type { QueryLike } from '../engine/port';
import type { Internals, QueryClass } from './probe';

type Run = (this: unknown, sql: string, parameters?: unknown) => Promise<unknown>;

/** Sequelize's SQL of a statement, kept by the `sql` accessor. */
const kSql = Symbol('sql');
/** A statement the engine wraps: watched around its `run`, not at the driver; its caller's stack. */
const kWrapped = Symbol('wrapped');
type Tapped = QueryLike & { [kSql]?: unknown; [kWrapped]?: string };

/**
 * The stack Sequelize's `run` captured for a statement's errors, as without the plugin: where
 * `run` is the plugin's, its own frame (this file's) is taken out; a statement the engine wraps
 * runs Sequelize's `run` later, away from its caller, and gets the stack captured at the call.
 */
function callerStack(query: Tapped, stack: string | undefined): string | undefined {
  const wrapped = query[kWrapped];
  if (wrapped !== undefined) return wrapped;
  if (typeof stack !== 'string' || !stack.includes(__filename)) return stack;
  return stack
    .split('\n')
    .filter((line) => !line.includes(__filename))
    .join('\n');
}

/**
 * Gives this instance its own subclass of the dialect's Query class (Sequelize creates queries
 * with `sequelize.dialect.Query`) so that the engine watches every statement. Where the dialect
 * taps its driver, the tap is armed when Sequelize's `run` notes its SQL (`this.sql = sql`), the
 * last thing it does before its driver call: `run` itself stays Sequelize's, for a frame of ours
 * would be in the stack trace it captures for every statement. `run` is overridden only where
 * the engine watches around it: statements it wraps (once a verified write or a replayable
 * transaction is seen), and every statement of a dialect without a tap. Returns a way to run a
 * statement past the patch, for the engine's retries.
 */
export function patchQuery(internals: Internals, facade: Facade): (query: QueryLike, sql: string, parameters: unknown) => Promise<unknown> {
  const { dialect } = internals;
  const Base: QueryClass = dialect.Query;
  const baseRun = (Base.prototype as { run: Run }).run;
  const { tap } = facade;
  // Named as Sequelize names its own (`Query`): stack traces show `Query.run`, as without the plugin.
  const { Query: AutoReconnectQuery } = {
    Query: class extends Base {
      // A statement settled by the engine at the driver may end in a ConnectionLostError: passed on, with the caller's stack.
      override formatError(error: unknown, stack?: string): unknown {
        const caller = callerStack(this, stack);
        return error instanceof BaseError ? withCallerStack(error, caller) : super.formatError(error, caller);
      }
    },
  };
  const proto = AutoReconnectQuery.prototype;
  function run(this: Tapped, sql: string, parameters?: unknown): Promise<unknown> {
    // A closure only for the statements the engine wraps.
    const wrap = facade.wraps(this, sql);
    if (wrap) {
      // What Sequelize's `run` captures for its errors, for the statement's and the plugin's own.
      const caller: { stack?: string } = {};
      Error.captureStackTrace(caller, run);
      this[kWrapped] = caller.stack ?? '';
      return facade.watch(
        this,
        sql,
        parameters,
        facade.runWrapped(wrap, this, () => baseRun.call(this, sql, parameters)),
        true,
      );
    }
    if (tap) return baseRun.call(this, sql, parameters);
    // The stack Sequelize's run captures holds our frame too (taken out by `callerStack`): one
    // more may be kept, so that as many of the caller's are kept as without the plugin.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = limit + 1;
    let running: Promise<unknown>;
    try {
      running = baseRun.call(this, sql, parameters);
    } finally {
      Error.stackTraceLimit = limit;
    }
    return facade.watch(this, sql, parameters, running);
  }
  const watchRuns = (): void => void Object.defineProperty(proto, 'run', { value: run, writable: true, configurable: true });
  if (tap) {
    Object.defineProperty(proto, 'sql', {
      configurable: true,
      get(this: Tapped) {
        return this[kSql];
      },
      set(this: Tapped, sql: unknown) {
        this[kSql] = sql;
        if (this[kWrapped] === undefined) tap.arm(this, sql);
      },
    });
    facade.whenWrapping(watchRuns);
  } else {
    watchRuns();
  }
  dialect.Query = AutoReconnectQuery;
  return (query, sql, parameters) => baseRun.call(query, sql, parameters);
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
