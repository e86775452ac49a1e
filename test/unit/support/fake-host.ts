/**
 * A host for the engine without Sequelize or a database: connections are plain objects, the
 * driver's answers come from a script, time is virtual (a timer fires on the next turn of the
 * event loop and moves the clock by its delay), and every hook call is recorded.
 */
import type { Model, ModelStatic } from 'sequelize';
import type { ConnectFailure, DialectClassifier, QueryFailure } from '../../../src/core/failure';
import { resolveOptions } from '../../../src/core/options';
import type { AutoReconnectOptions, ReconnectContext } from '../../../src';
import type { AfterReconnectContext } from '../../../src/hooks';
import type { Dialect } from '../../../src/dialects';
import { createFacade, type Facade } from '../../../src/engine/facade';
import type { AcquireOptions, Clock, Connection, HostPort, QueryLike } from '../../../src/engine/port';
import { createEngine, type Engine } from '../../../src/engine/state';

/** How a fake error classifies: the fake dialect reads this off the error. */
export type FakeKind = ConnectFailure | 'lost-unsent' | 'lost-sent' | 'read-only' | 'not-lost' | 'pool-exhausted';

export function fail(kind: FakeKind, message: string = kind): Error {
  return Object.assign(new Error(message), { kind });
}

const kindOf = (error: unknown): FakeKind | undefined => (error as { kind?: FakeKind } | null)?.kind;

const classifier: DialectClassifier = {
  isConflict: () => false,
  dialect: 'fake',
  classifyConnectError: (error) => {
    const kind = kindOf(error);
    return kind === 'auth' || kind === 'transient' ? kind : 'fatal';
  },
  classifyQueryError: (error): QueryFailure => {
    switch (kindOf(error)) {
      case 'lost-unsent':
        return { lost: true, mayHaveRun: false };
      case 'lost-sent':
        return { lost: true, mayHaveRun: true };
      case 'read-only':
        return { lost: true, mayHaveRun: false, readOnlyServer: true };
      default:
        return { lost: false };
    }
  },
  isTransactionStart: (sql) => sql === 'BEGIN',
  isCommit: (sql) => sql === 'COMMIT',
  isRollback: (sql) => sql === 'ROLLBACK',
};

const dialect: Dialect = { name: 'fake', classifier, ping: () => Promise.resolve(), rolledBackResult: () => 'rolled back' };

/** One answer of the driver: a connection, an error, or no answer ever. */
export type Answer = 'ok' | Error | 'hang';

export interface Harness {
  engine: Engine;
  facade: Facade;
  /** Connection attempts made, and statements re-run. */
  acquired: AcquireOptions[];
  /** Connections given back to the pool. */
  released: Connection[];
  reruns: number;
  /** Delays of the timers that fired (backoffs, deadlines), and the zero-delay yields. */
  waited: number[];
  /** `name:phase:attempt[:reconnected]` of each hook call, in order. */
  hooks: string[];
  contexts: Array<ReconnectContext | AfterReconnectContext>;
  /** Instance hooks (`addHook` on the Sequelize instance). */
  instanceHooks: Record<string, Array<(context: ReconnectContext) => unknown>>;
  /** What the host answers when asked whether a session is read only by its own settings. */
  readOnlyBySettings: boolean;
  /** Hooks added to a model with `Model.addHook`. */
  modelHooks: Map<object, Record<string, Array<(context: ReconnectContext) => unknown>>>;
  now(): number;
}

export function harness(
  options: AutoReconnectOptions,
  script: { connects?: Answer[]; reruns?: Array<'ok' | Error> } = {},
  random = () => 0.5,
  /** `scoutMs`: scouting on (off by default: it adds attempts), with timers fired in time order. */
  extra: { scoutMs?: number } = {},
): Harness {
  const connects = [...(script.connects ?? [])];
  const reruns = [...(script.reruns ?? [])];
  let now = 1_000_000;
  let connectionIds = 0;
  const h = {
    acquired: [] as AcquireOptions[],
    released: [] as Connection[],
    reruns: 0,
    waited: [] as number[],
    hooks: [] as string[],
    contexts: [] as Array<ReconnectContext | AfterReconnectContext>,
    instanceHooks: {} as Harness['instanceHooks'],
    modelHooks: new Map() as Harness['modelHooks'],
    readOnlyBySettings: false,
    now: () => now,
  };
  const clock: Clock = {
    now: () => now,
    random,
    setTimer: (fn, ms) => {
      if (extra.scoutMs !== undefined) return ordered(fn, ms);
      let cancelled = false;
      setImmediate(() => {
        if (cancelled) return;
        now += ms;
        h.waited.push(ms);
        fn();
      });
      return () => (cancelled = true);
    },
    yieldToIO: async () => {
      h.waited.push(0);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
  // Each timer set lets one turn fire the earliest pending one: a short timer set after a long one fires first.
  const pending: Array<{ at: number; fn: () => void }> = [];
  const ordered = (fn: () => void, ms: number) => {
    const timer = { at: now + ms, fn };
    pending.push(timer);
    setImmediate(() => {
      if (pending.length === 0) return;
      const next = pending.reduce((a, b) => (b.at < a.at ? b : a));
      pending.splice(pending.indexOf(next), 1);
      now = Math.max(now, next.at);
      next.fn();
    });
    return () => {
      const at = pending.indexOf(timer);
      if (at >= 0) pending.splice(at, 1);
    };
  };
  const record = (name: string, context: ReconnectContext | AfterReconnectContext) => {
    h.contexts.push(context);
    const after = 'reconnected' in context ? `:${context.reconnected}` : '';
    h.hooks.push(`${name}:${context.phase}:${context.attempt}${after}`);
  };
  const added = (model: ModelStatic<Model> | undefined, name: string) => [
    ...((model && h.modelHooks.get(model)?.[name]) ?? []),
    ...(h.instanceHooks[name] ?? []),
  ];
  const host: HostPort = {
    acquireOnce: (acquireOptions) => {
      h.acquired.push(acquireOptions);
      const answer = connects.shift() ?? 'ok';
      if (answer === 'hang') return new Promise(() => {});
      return answer === 'ok' ? Promise.resolve({ id: ++connectionIds } as Connection) : Promise.reject(answer);
    },
    // No address to knock unless a test gives one: the scout logs in each time.
    knock: () => Promise.resolve('unknown'),
    release: (connection) => void h.released.push(connection),
    destroy: () => {},
    invalidate: (connection) => {
      (connection as { _invalid?: boolean })._invalid = true;
    },
    poolOf: () => 'write',
    moveStatement: (q, connection) => {
      (q as { connection: Connection }).connection = connection;
    },
    runAgain: () => {
      h.reruns++;
      const answer = reruns.shift() ?? 'ok';
      return answer === 'ok' ? Promise.resolve('rows') : Promise.reject(answer);
    },
    transactionAcquireOptions: (transaction) => ({ uuid: transaction.id }),
    isRead: (type) => type === 'SELECT',
    writeKind: (type) => (type === 'SELECT' ? 'read' : type === 'RAW' ? 'raw' : 'write'),
    formatError: (_query, error) => error,
    poolFor: () => 'write',
    replicated: false,
    configOf: () => ({ host: 'db.example', password: 'secret' }),
    maxPoolSize: () => 5,
    hasHook: (model, name) => added(model, name).length > 0,
    runHooks: async (model, name, context) => {
      for (const hook of added(model, name)) await hook(context);
    },
    isPoolExhausted: (error) => kindOf(error) === 'pool-exhausted',
    acquireTimeoutMs: () => 1000,
    adopt: () => {},
    ping: () => Promise.resolve(),
    readOnlyBySettings: () => Promise.resolve(h.readOnlyBySettings),
    debug: () => {},
  };
  h.instanceHooks['beforeReconnect'] = [(c) => record('before', c)];
  h.instanceHooks['afterReconnect'] = [(c) => record('after', c)];
  const engine = createEngine({
    host,
    clock,
    dialect,
    options: resolveOptions(options),
    redact: (t) => t,
    scoutMs: extra.scoutMs ?? false,
  });
  return {
    ...h,
    engine,
    facade: createFacade(engine),
    get reruns() {
      return h.reruns;
    },
    get readOnlyBySettings() {
      return h.readOnlyBySettings;
    },
    set readOnlyBySettings(value: boolean) {
      h.readOnlyBySettings = value;
    },
  };
}

/** A statement on a connection, as Sequelize's Query holds it. */
export function query(type: string, transaction?: QueryLike['options']['transaction']): QueryLike {
  return { connection: { id: 0 } as Connection, options: { type, transaction } };
}
