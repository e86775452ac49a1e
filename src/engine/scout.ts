import type { AcquireOptions, Connection } from './port';
import type { Engine } from './state';
import { withDeadline } from './timing';

/**
 * Once the server answers again, nobody would learn it before some sleeper's jittered delay
 * ended (up to `backoff.maxMs`). While any operation sleeps in a connect backoff, one attempt
 * every `intervalMs` (never two at once) tries a connection: its success hands the connection
 * to the pool and wakes every sleeper, and the pool's size bounds how many then connect
 * together. Its failures are no one's retries: no counts, no hooks. Nothing runs while nobody
 * sleeps, nor after `close()`.
 */
export async function sleepScouted(engine: Engine, options: AcquireOptions, ms: number): Promise<void> {
  const { scout } = engine;
  // Worth scouting during a sleep longer than the interval only: a shorter one ends about as soon.
  if (scout.intervalMs === false || ms <= scout.intervalMs) return engine.backoffs.sleep(ms);
  // Only what picks the pool: the rest (a transaction, a uuid) belongs to the sleeper.
  scout.options = { type: options.type, useMaster: options.useMaster };
  scout.sleepers++;
  schedule(engine);
  try {
    await engine.backoffs.sleep(ms);
  } finally {
    scout.sleepers--;
  }
}

function schedule(engine: Engine): void {
  const { scout, clock } = engine;
  if (scout.busy || scout.intervalMs === false) return;
  scout.busy = true;
  clock.setTimer(() => {
    // A throw here would be an uncaught exception on the real clock's timer: none can escape.
    attempt(engine).then(
      (back) => {
        scout.busy = false;
        if (back) engine.backoffs.wakeAll();
        else if (scout.sleepers > 0 && !engine.closed) schedule(engine);
      },
      () => (scout.busy = false),
    );
  }, scout.intervalMs);
}

/** One connection attempt, bounded: whether the server answered. */
async function attempt(engine: Engine): Promise<boolean> {
  const { scout, host, clock } = engine;
  const options = scout.options;
  // A function: the flag changes across the awaits below, which narrowing would not see.
  const closed = (): boolean => engine.closed;
  if (scout.sleepers === 0 || closed() || options === undefined) return false;
  const { connectTimeoutMs } = engine.options.hygiene;
  const boundMs = connectTimeoutMs === false ? engine.options.deadlineMs : connectTimeoutMs;
  const since = clock.now();
  const timedOut = () => new Error('scout: no answer');
  let connection: Connection;
  try {
    connection = await withDeadline(clock, host.acquireOnce(options), boundMs, timedOut, (late) => host.release(late));
  } catch {
    return false;
  }
  // An idle pooled connection proves nothing until it answers; a new one already has.
  if ((engine.connections.records.get(connection)?.createdAt ?? -Infinity) < since) {
    const { validateTimeoutMs } = engine.options.hygiene;
    try {
      await withDeadline(clock, host.ping(connection), validateTimeoutMs, timedOut, () => {});
    } catch {
      host.destroy(connection);
      return false;
    }
  }
  // After close() the pool is gone: nothing to hand the connection to, nobody to wake.
  if (closed()) {
    host.destroy(connection);
    return false;
  }
  host.release(connection);
  return true;
}
