import type { SessionVerdict, SilenceProbe } from '../dialects/types';
import { listening, publish } from './events';
import type { Connection } from './port';
import type { Engine } from './state';

/** A statement in flight as the watchdog sees it (a tap's Watcher, or the facade's Running: reused from statement to statement). */
export interface Watched {
  connection: unknown;
  /** Bumped when the statement ends: a check answered after that is about another statement. */
  serial: number;
  /** The tick at which its connection last received bytes (or the statement started). */
  heardTick: number;
  /** The socket's byte count at the last tick; -1 until the first tick reads it. */
  bytes: number;
  nextCheckTick: number;
  checks: number;
  checking: boolean;
  /** Which statement the server said its session was on (the server's `query_start`). */
  started: string | undefined;
  /** The list of statements in flight, threaded through them: no allocation to join or leave it. */
  prev: Watched | undefined;
  next: Watched | undefined;
}

/** A Watched's fields, for the records that carry a statement (a tap's Watcher, the facade's Running). */
export class WatchedRecord implements Watched {
  connection: unknown = undefined;
  serial = 0;
  heardTick = 0;
  bytes = -1;
  nextCheckTick = 0;
  checks = 0;
  checking = false;
  started: string | undefined = undefined;
  prev: Watched | undefined = undefined;
  next: Watched | undefined = undefined;
}

/** Longest wait between two checks of a statement the server says is still running. */
const MAX_CHECK_INTERVAL_MS = 30_000;
/** The least a logged-in check waits for its answer, however short `silenceMs`. */
const MIN_ANSWER_MS = 1000;

/**
 * The watchdog: one timer per instance, armed while statements are in flight, that looks at
 * each one's socket. A statement is started with a few field writes and joins an intrusive
 * list; time is counted in ticks (small integers), not read from the clock: nothing is allocated
 * for one that succeeds, and no timer is set or cleared per statement.
 * One silent for `silenceMs` is asked about on a separate connection (see `SilenceProbe`):
 * still running, it is left alone and asked again later, less and less often; its answer
 * lost, its socket is destroyed, and the statement fails as after any lost connection.
 */
export class SilenceWatch {
  private head: Watched | undefined = undefined;
  private armed = false;
  private ticks = 0;
  /** Ticks of silence before a check: the first tick may come right after a statement starts. */
  private readonly silentTicks: number;
  private pooled = false;
  private readonly keptAlive = new WeakSet();
  private readonly tickMs: number;

  constructor(
    private readonly engine: Engine,
    private readonly probe: SilenceProbe,
    private readonly silenceMs: number,
  ) {
    // At most one tick a second: a timer that fires more often costs every operation of the
    // application allocation (bare Sequelize too: +70 B per `SELECT 1` with any 250 ms timer,
    // measured), and a silence is found at most one tick late.
    this.tickMs = Math.max(50, Math.min(1000, Math.floor(silenceMs / 2)));
    this.silentTicks = Math.ceil(silenceMs / this.tickMs) + 1;
  }

  start(watched: Watched, connection: unknown): void {
    watched.connection = connection;
    watched.heardTick = this.ticks;
    watched.bytes = -1;
    watched.nextCheckTick = 0;
    watched.checks = 0;
    watched.checking = false;
    watched.started = undefined;
    watched.prev = undefined;
    watched.next = this.head;
    if (this.head) this.head.prev = watched;
    this.head = watched;
    if (!this.armed) this.arm();
  }

  /** The statement ended: the timer stops at its next tick if nothing else is in flight. */
  end(watched: Watched): void {
    const { prev, next } = watched;
    if (prev) prev.next = next;
    else if (this.head === watched) this.head = next;
    if (next) next.prev = prev;
    watched.prev = watched.next = undefined;
    watched.serial = (watched.serial + 1) | 0;
    watched.connection = undefined;
  }

  private arm(): void {
    this.armed = true;
    // In the background: a tick left after the application is done (or has closed) keeps nothing alive.
    this.engine.clock.setTimer(this.tick, this.tickMs, true);
  }

  // The clock's timers catch throws; each statement's look is guarded too, so one cannot stop the others'.
  private readonly tick = (): void => {
    this.armed = false;
    // After close() too: Sequelize's close waits for statements in flight, which a silent path would hold forever.
    if (!this.head) return;
    const now = ++this.ticks;
    // Made only on the rare tick that finds a statement silent for silenceMs.
    let due: Watched[] | undefined;
    for (let watched: Watched | undefined = this.head; watched; watched = watched.next) {
      try {
        if (this.look(watched, now)) (due ??= []).push(watched);
      } catch {
        // A socket in an odd state: looked at again next tick.
      }
    }
    if (due) this.check(due, now);
    this.arm();
  };

  /** Whether the statement has been silent long enough to ask the server about it. */
  private look(watched: Watched, now: number): boolean {
    if (watched.checking) return false;
    const bytes = this.probe.bytesRead(watched.connection);
    if (bytes === undefined) return false;
    if (bytes !== watched.bytes) {
      const first = watched.bytes === -1;
      watched.bytes = bytes;
      if (!first) {
        watched.heardTick = now;
        // It spoke: a statement the server named before may be an earlier one of the same call (mysql2's prepare, then execute).
        watched.started = undefined;
        return false;
      }
    }
    if (now - watched.heardTick < this.silentTicks || now < watched.nextCheckTick) return false;
    if (this.pooled) {
      this.keepAlive(watched.connection);
      return false;
    }
    return true;
  }

  /**
   * Asks the server about every statement found silent at this tick at once: the probe opens one
   * check connection per server, however many of its statements went silent together (a pool's
   * worth, when a path is black-holed).
   */
  private check(due: Watched[], now: number): void {
    // Read only on this rare path: a check costs nothing to a statement that is heard from.
    const askedAt = this.engine.clock.now();
    const { connectTimeoutMs } = this.engine.options.hygiene;
    const connectMs = connectTimeoutMs === false ? 5000 : connectTimeoutMs;
    // A check that logged in and then hears nothing for as long as a statement may is silent
    // itself: abandoned (no verdict) and asked again later, not waited for up to the connect bound.
    const answerMs = Math.min(connectMs, Math.max(this.silenceMs, MIN_ANSWER_MS));
    const asked = due.map((watched) => {
      watched.checking = true;
      const silentSince = askedAt - (now - watched.heardTick) * this.tickMs;
      return { watched, serial: watched.serial, connection: watched.connection, started: watched.started, silentSince };
    });
    const unknown = (error: unknown): SessionVerdict[] => asked.map(() => ({ state: 'unknown', why: String(error) }));
    this.probe
      .ask(asked, { connectMs, answerMs, graceMs: Math.min(1000, this.silenceMs / 2) })
      .catch(unknown)
      .then((verdicts) => {
        asked.forEach((a, i) => {
          try {
            this.answered(
              a.watched,
              a.serial,
              a.connection,
              verdicts[i] ?? { state: 'unknown', why: 'the check gave no verdict' },
              a.silentSince,
            );
          } catch {
            // One statement's answer cannot stop the others'.
          }
        });
      })
      .catch(() => {
        // Nothing may escape a detached promise.
      });
  }

  private answered(watched: Watched, serial: number, connection: unknown, verdict: SessionVerdict, silentSince: number): void {
    if (watched.serial !== serial) return;
    // An error's words may carry what the application configured: never a password in the log.
    const why = 'why' in verdict ? this.engine.redact(verdict.why) : '';
    watched.checking = false;
    const now = this.ticks;
    const silentMs = (now - watched.heardTick) * this.tickMs;
    // Bytes arrived while the check ran: the connection spoke, whatever the server said before.
    if (this.probe.bytesRead(connection) !== watched.bytes) return;
    if (verdict.state === 'lost') {
      this.engine.host.debug(`a statement heard nothing for ${silentMs} ms and ${why}: its connection is destroyed`);
      this.probe.cut(
        connection,
        new Error(`Connection terminated unexpectedly: no answer for ${silentMs} ms and ${why} (sequelize-autoreconnect)`),
      );
      if (listening('silenceDetected')) {
        const config = this.engine.connections.records.get(connection as Connection)?.config;
        const detectionMs = this.engine.clock.now() - silentSince;
        publish(this.engine, 'silenceDetected', { silentMs, detectionMs, verdict: why }, config);
      }
      return;
    }
    if (verdict.state === 'pooled') {
      this.pooled = true;
      this.engine.host.debug(`silent statements: ${why}; falling back to TCP keepalive (1 s probes) on their connections`);
      this.keepAlive(connection);
      return;
    }
    if (verdict.state === 'running') {
      watched.started = verdict.started;
      this.engine.host.debug(`a statement heard nothing for ${silentMs} ms; the server says it is still running it: left waiting`);
    } else this.engine.host.debug(`a statement heard nothing for ${silentMs} ms; left waiting: ${why}`);
    watched.checks++;
    const waitMs = Math.min(this.silenceMs * 2 ** (watched.checks - 1), MAX_CHECK_INTERVAL_MS);
    watched.nextCheckTick = now + Math.ceil(waitMs / this.tickMs);
  }

  private keepAlive(connection: unknown): void {
    if (typeof connection !== 'object' || connection === null || this.keptAlive.has(connection)) return;
    this.keptAlive.add(connection);
    this.probe.keepAlive(connection);
  }
}
