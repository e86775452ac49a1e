import { errorCode } from './events';
import type { AcquireOptions, Connection, KnockResult } from './port';
import type { Engine } from './state';
import { withDeadline } from './timing';

/**
 * Once the server answers again, nobody would learn it before some sleeper's jittered delay
 * ended (up to `backoff.maxMs`). While any operation sleeps in a connect backoff, one attempt
 * every `intervalMs` (never two at once) tries a connection: its success hands the connection
 * to the pool and wakes every sleeper, and the pool's size bounds how many then connect
 * together. While the server refuses connections (nothing listens on its port), the scout only
 * knocks, every `KNOCK_INTERVAL_MS`: a TCP connect, a fraction of a login's cost, so that the
 * server is found as soon as its port opens, and it logs in when a knock is taken (and every
 * `LOGIN_AT_LEAST_MS` anyway: a hook may send connections elsewhere). Its failures are no one's
 * retries: no counts, no hooks. Nothing runs while nobody sleeps, nor after `close()`.
 */
export async function sleepScouted(engine: Engine, options: AcquireOptions, ms: number): Promise<void> {
  const { scout } = engine;
  // Worth scouting during a sleep longer than the interval only: a shorter one ends about as soon.
  if (scout.intervalMs === false || ms <= scout.intervalMs) return engine.backoffs.sleep(ms);
  // Only what picks the pool: the rest (a transaction, a uuid) belongs to the sleeper.
  scout.options = { type: options.type, useMaster: options.useMaster };
  scout.sleepers++;
  schedule(engine, scout.intervalMs);
  try {
    await engine.backoffs.sleep(ms);
  } finally {
    scout.sleepers--;
  }
}

/** While the server refuses connections: how often the scout knocks. */
export const KNOCK_INTERVAL_MS = 4;
/** While knocks are refused: a login anyway, this often. */
const LOGIN_AT_LEAST_MS = 250;
/**
 * For this long after the server stops refusing, a login that fails (PostgreSQL's "the database
 * system is starting up") is tried again at the knocks' pace: a server whose port has just
 * opened is about to take logins. A few dozen attempts at most, then the interval again.
 */
const STARTING_MS = 100;

/** The server answered; look again at the knocks' pace; look again after the interval. */
type Outcome = 'back' | 'soon' | 'later';

function schedule(engine: Engine, ms: number): void {
  const { scout, clock } = engine;
  if (scout.busy || scout.intervalMs === false) return;
  const intervalMs = scout.intervalMs;
  scout.busy = true;
  clock.setTimer(() => {
    // A throw here would be an uncaught exception on the real clock's timer: none can escape.
    attempt(engine).then(
      (outcome) => {
        scout.busy = false;
        if (outcome === 'back') engine.backoffs.wakeAll();
        else if (scout.sleepers > 0 && !engine.closed) schedule(engine, outcome === 'soon' ? KNOCK_INTERVAL_MS : intervalMs);
      },
      () => (scout.busy = false),
    );
  }, ms);
}

/** One look, bounded: a knock while the server refuses, a login otherwise or once a knock is taken. */
async function attempt(engine: Engine): Promise<Outcome> {
  const { scout, host, clock } = engine;
  const options = scout.options;
  // A function: the flag changes across the awaits below, which narrowing would not see.
  const closed = (): boolean => engine.closed;
  if (scout.sleepers === 0 || closed() || options === undefined) return 'later';
  const { connectTimeoutMs } = engine.options.hygiene;
  const boundMs = connectTimeoutMs === false ? engine.options.deadlineMs : connectTimeoutMs;
  const since = clock.now();
  let knocked: KnockResult | undefined;
  if (scout.refused && since - scout.loginAt < LOGIN_AT_LEAST_MS) {
    knocked = await host.knock(host.poolFor(options), boundMs);
    if (closed()) return 'later';
    if (knocked === 'refused') return 'soon';
    if (knocked === 'open') refusing(engine, false);
  }
  scout.loginAt = clock.now();
  const timedOut = () => new Error('scout: no answer');
  let connection: Connection;
  try {
    connection = await withDeadline(clock, host.acquireOnce(options), boundMs, timedOut, (late) => host.release(late));
  } catch (error) {
    refusing(engine, errorCode(error) === 'ECONNREFUSED');
    // Soon: to knock, where a knock reaches the server; or to log in, its port having just opened.
    return (scout.refused && knocked !== 'unknown') || clock.now() - scout.openedAt < STARTING_MS ? 'soon' : 'later';
  }
  refusing(engine, false);
  // An idle pooled connection proves nothing until it answers; a new one already has.
  if ((engine.connections.records.get(connection)?.createdAt ?? -Infinity) < since) {
    const { validateTimeoutMs } = engine.options.hygiene;
    try {
      await withDeadline(clock, host.ping(connection), validateTimeoutMs, timedOut, () => {});
    } catch {
      host.destroy(connection);
      return 'later';
    }
  }
  // After close() the pool is gone: nothing to hand the connection to, nobody to wake.
  if (closed()) {
    host.destroy(connection);
    return 'later';
  }
  host.release(connection);
  return 'back';
}

/** Notes whether the server refuses connections, and when it stopped refusing. */
function refusing(engine: Engine, refused: boolean): void {
  const { scout } = engine;
  if (scout.refused === refused) return;
  if (!refused) scout.openedAt = engine.clock.now();
  scout.refused = refused;
  engine.host.debug(
    refused ? `scout: the server refuses connections; knocking every ${KNOCK_INTERVAL_MS} ms` : 'scout: the server takes connections again',
  );
}
