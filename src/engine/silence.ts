import type { SessionVerdict, SilenceProbe } from '../dialects/types';
import type { Engine } from './state';

/** A statement in flight as the watchdog sees it (a tap's Watcher, reused from statement to statement). */
export interface Watched {
  connection: unknown;
  /** Bumped when the statement ends: a check answered after that is about another statement. */
  serial: number;
  /** When its connection last received bytes (or the statement started). */
  heardAt: number;
  /** The socket's byte count at the last tick; -1 until the first tick reads it. */
  bytes: number;
  nextCheckAt: number;
  checks: number;
  checking: boolean;
  /** Which statement the server said its session was on (the server's `query_start`). */
  started: string | undefined;
}

/** Longest wait between two checks of a statement the server says is still running. */
const MAX_CHECK_INTERVAL_MS = 30_000;

/**
 * The watchdog: one timer per instance, armed while statements are in flight, that looks at
 * each one's socket. A statement is started with a few field writes and a Set insertion;
 * nothing is allocated for one that succeeds, and no timer is set or cleared per statement.
 * One silent for `silenceMs` is asked about on a separate connection (see `SilenceProbe`):
 * still running, it is left alone and asked again later, less and less often; its answer
 * lost, its socket is destroyed, and the statement fails as after any lost connection.
 */
export class SilenceWatch {
  private readonly active = new Set<Watched>();
  private armed = false;
  private pooled = false;
  private readonly keptAlive = new WeakSet();
  private readonly tickMs: number;

  constructor(
    private readonly engine: Engine,
    private readonly probe: SilenceProbe,
    private readonly silenceMs: number,
  ) {
    this.tickMs = Math.max(50, Math.min(500, Math.floor(silenceMs / 4)));
  }

  start(watched: Watched, connection: unknown): void {
    watched.connection = connection;
    watched.heardAt = this.engine.clock.now();
    watched.bytes = -1;
    watched.nextCheckAt = 0;
    watched.checks = 0;
    watched.checking = false;
    watched.started = undefined;
    this.active.add(watched);
    if (!this.armed) this.arm();
  }

  /** The statement ended: the timer stops at its next tick if nothing else is in flight. */
  end(watched: Watched): void {
    this.active.delete(watched);
    watched.serial++;
    watched.connection = undefined;
  }

  private arm(): void {
    this.armed = true;
    this.engine.clock.setTimer(this.tick, this.tickMs);
  }

  // The clock's timers catch throws; each statement's look is guarded too, so one cannot stop the others'.
  private readonly tick = (): void => {
    this.armed = false;
    if (this.engine.closed || this.active.size === 0) return;
    const now = this.engine.clock.now();
    for (const watched of this.active) {
      try {
        this.look(watched, now);
      } catch {
        // A socket in an odd state: looked at again next tick.
      }
    }
    this.arm();
  };

  private look(watched: Watched, now: number): void {
    if (watched.checking) return;
    const bytes = this.probe.bytesRead(watched.connection);
    if (bytes === undefined) return;
    if (bytes !== watched.bytes) {
      const first = watched.bytes === -1;
      watched.bytes = bytes;
      if (!first) {
        watched.heardAt = now;
        return;
      }
    }
    if (now - watched.heardAt < this.silenceMs || now < watched.nextCheckAt) return;
    if (this.pooled) {
      this.keepAlive(watched.connection);
      return;
    }
    watched.checking = true;
    const { serial, connection, started } = watched;
    const { connectTimeoutMs } = this.engine.options.hygiene;
    const timeoutMs = connectTimeoutMs === false ? 5000 : connectTimeoutMs;
    this.probe
      .ask(connection, timeoutMs, started, Math.min(1000, this.silenceMs / 2))
      .catch((error: unknown): SessionVerdict => ({ state: 'unknown', why: String(error) }))
      .then((verdict) => this.answered(watched, serial, connection, verdict))
      .catch(() => {
        // answered() guards its own work; nothing may escape a detached promise.
      });
  }

  private answered(watched: Watched, serial: number, connection: unknown, verdict: SessionVerdict): void {
    if (watched.serial !== serial) return;
    watched.checking = false;
    if (this.engine.closed) return;
    const now = this.engine.clock.now();
    const silentMs = now - watched.heardAt;
    // Bytes arrived while the check ran: the connection spoke, whatever the server said before.
    if (this.probe.bytesRead(connection) !== watched.bytes) return;
    if (verdict.state === 'lost') {
      this.engine.host.debug(`a statement heard nothing for ${silentMs} ms and ${verdict.why}: its connection is destroyed`);
      this.probe.cut(
        connection,
        new Error(`Connection terminated unexpectedly: no answer for ${silentMs} ms and ${verdict.why} (sequelize-autoreconnect)`),
      );
      return;
    }
    if (verdict.state === 'pooled') {
      this.pooled = true;
      this.engine.host.debug(`silent statements: ${verdict.why}; falling back to TCP keepalive (1 s probes) on their connections`);
      this.keepAlive(connection);
      return;
    }
    if (verdict.state === 'running') watched.started = verdict.started;
    else this.engine.host.debug(`a statement heard nothing for ${silentMs} ms; left waiting: ${verdict.why}`);
    watched.checks++;
    watched.nextCheckAt = now + Math.min(this.silenceMs * 2 ** (watched.checks - 1), MAX_CHECK_INTERVAL_MS);
  }

  private keepAlive(connection: unknown): void {
    if (typeof connection !== 'object' || connection === null || this.keptAlive.has(connection)) return;
    this.keptAlive.add(connection);
    this.probe.keepAlive(connection);
  }
}
