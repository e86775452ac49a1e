import type { Clock } from './port';

/**
 * New connections to a server open one at a time, as HikariCP adds them. After an outage, the
 * operations that were waiting are served by the connections open already while the pool
 * refills, rather than each waiting for a login of its own that a burst of logins on a server
 * just started slows for all (in `npm run bench`'s outage, the last waiting read: 101 ms after
 * the server was back with every connection opened at once, 22 ms one at a time). A pace, not a
 * lock: a waiter goes anyway after `maxWaitMs`, so a login that hangs (a black hole, until its
 * connect timeout) never holds the others back for longer; after `close()` nobody waits.
 */
export class ConnectGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private open = false;

  constructor(
    private readonly clock: Clock,
    private readonly maxWaitMs: number,
  ) {}

  /** Resolves when this connection may start opening; `leave()` once it has settled. */
  enter(): Promise<void> | undefined {
    if (this.running === 0 || this.open) {
      this.running++;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      const go = (): void => {
        const at = this.waiting.indexOf(go);
        if (at === -1) return;
        this.waiting.splice(at, 1);
        cancel();
        this.running++;
        resolve();
      };
      const cancel = this.clock.setTimer(go, this.maxWaitMs);
      this.waiting.push(go);
    });
  }

  leave(): void {
    this.running--;
    if (this.running === 0) this.waiting[0]?.();
  }

  /** `close()`: every waiter goes now, and none waits from now on. */
  openAll(): void {
    this.open = true;
    for (const go of [...this.waiting]) go();
  }
}

/**
 * One gate per server (`host:port`): logins to one server are paced together, and a login that
 * hangs on one (a black-holed replica) does not pace logins to another (the primary).
 */
export class ConnectGates {
  private readonly gates = new Map<string, ConnectGate>();
  private open = false;

  constructor(
    private readonly clock: Clock,
    private readonly maxWaitMs: number,
  ) {}

  /** The gate of the server these settings name. */
  of(server: { readonly host?: string | undefined; readonly port?: string | number | undefined }): ConnectGate {
    const key = `${server.host ?? ''}:${String(server.port ?? '')}`;
    let gate = this.gates.get(key);
    if (gate === undefined) {
      gate = new ConnectGate(this.clock, this.maxWaitMs);
      if (this.open) gate.openAll();
      this.gates.set(key, gate);
    }
    return gate;
  }

  /** `close()`: every waiter at every gate goes now, and none waits from now on. */
  openAll(): void {
    this.open = true;
    for (const gate of this.gates.values()) gate.openAll();
  }
}

/** How long a new connection waits for the one opening before it goes anyway. */
export const CONNECT_PACE_MS = 250;
