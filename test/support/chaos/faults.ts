/**
 * Real faults for the chaos run: sessions terminated on the server, connections broken by the
 * fault proxies, the server shut down (fast or immediate) and started again.
 */
import { admin } from '../db';
import type { FaultProxy } from '../fault-proxy';
import type { TestServer } from '../postgres';
import { sleep } from '../workload';
import type { Fault } from './plan';

export interface FaultTarget {
  readonly server: TestServer;
  /** Every instance's proxy. */
  readonly proxies: readonly FaultProxy[];
  /** The proxies the silent faults hit (see `silenceable` in run.ts). */
  readonly silenceable: readonly FaultProxy[];
  /** Of those, the ones whose black holes are never healed (`keepBlackHoles`). */
  readonly watched: readonly FaultProxy[];
  /** Every instance's application_name, for pg_terminate_backend. */
  readonly appNames: readonly string[];
  /** Called with [start, end] of each span in which the network withheld answers (mute, forget). */
  readonly onHold: (start: number, end: number) => void;
  /** The server is down between a shutdown and the end of the next start. */
  serverUp: boolean;
}

const MATCH = {
  insert: 'INSERT INTO "items"',
  // Q, a 4-byte length, then the statement: a COMMIT is always a simple query.
  commit: /^Q[\s\S]{4}COMMIT/,
  // The next statement of any kind, simple (Q) or extended (P): a load balancer that forgot the flow.
  'any-statement': /^[QP]/,
} as const;

/**
 * Applies one fault and resolves once it is over (a hold has ended, a restarted server accepts
 * connections again). Admin statements fail while the server is down: that fault is then moot.
 */
export async function inject(fault: Fault, target: FaultTarget): Promise<void> {
  const { proxies } = target;
  switch (fault.kind) {
    case 'terminate':
      if (target.serverUp) await terminate(target, fault.state, fault.which).catch(() => {});
      return;
    case 'reset':
      proxies.forEach((p) => p.resetAll());
      return;
    case 'cut':
      proxies.forEach((p) => p.cutAll());
      return;
    case 'forget':
    case 'mute': {
      const start = performance.now();
      proxies.forEach((p) => (fault.kind === 'mute' ? p.muteAll() : p.forgetAll()));
      try {
        await sleep(fault.holdMs);
      } finally {
        // A black hole of an earlier silent fault is no hold: it stays.
        proxies.forEach((p) => p.closeStranded({ keepSealed: true }));
        target.onHold(start, performance.now());
      }
      return;
    }
    case 'silence':
      // Not held and not ended: a statement caught on such a connection settles only by the watchdog.
      if (fault.which === 'all') target.silenceable.forEach((p) => p.blackHoleAll());
      else target.silenceable.forEach((p) => p.arm(MATCH['any-statement'], 'black-hole-after-send'));
      return;
    case 'refuse':
      if (fault.reset) proxies.forEach((p) => p.resetAll());
      proxies.forEach((p) => p.refuse(fault.ms));
      return;
    case 'arm':
      proxies.forEach((p) => p.arm(MATCH[fault.target], fault.action));
      return;
    case 'restart':
      target.serverUp = false;
      try {
        await target.server.shutdown(fault.mode);
        await sleep(fault.downMs);
      } finally {
        await target.server.start();
        target.serverUp = true;
      }
      return;
  }
}

async function terminate(target: FaultTarget, state: 'active' | 'idle' | 'any', which: 'one' | 'all'): Promise<void> {
  const states = state === 'any' ? null : state === 'idle' ? ['idle'] : ['active', 'idle in transaction'];
  await admin(target.server.url, (c) =>
    c.query(
      `SELECT pg_terminate_backend(pid) FROM (
         SELECT pid FROM pg_stat_activity
         WHERE application_name = ANY($1) AND pid <> pg_backend_pid() AND ($2::text[] IS NULL OR state = ANY($2))
         ORDER BY random() LIMIT $3
       ) AS chosen`,
      [target.appNames, states, which === 'one' ? 1 : null],
    ),
  );
}

/**
 * Undoes what is left of the faults: armed matches, refusals, stranded connections, a down
 * server; not the black holes of `watched` proxies (see `keepBlackHoles`).
 */
export async function heal(target: FaultTarget): Promise<void> {
  for (const proxy of target.proxies) {
    proxy.disarm();
    proxy.accept();
    proxy.closeStranded({ keepSealed: target.watched.includes(proxy) });
  }
  if (!target.serverUp) {
    await target.server.start();
    target.serverUp = true;
  }
}
