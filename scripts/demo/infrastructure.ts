/**
 * What sits between the orders service and its database, and what goes wrong there: a proxy
 * that closes idle connections (HAProxy's `timeout client/server`; the real HAProxy with
 * --haproxy), a few milliseconds of network latency each way, and now and then a failover.
 */
import { FaultProxy } from '../../test/support/fault-proxy';
import { startHaproxy, type RunningHaproxy } from '../lib/haproxy';
import { onCleanup } from '../lib/scratch';
import { seededRandom } from '../lib/stats';

export interface InfrastructureOptions {
  target: { host: string; port: number };
  idleTimeoutMs: number;
  latencyMs: number;
  haproxy: boolean;
}

export interface Infrastructure {
  /** Where the application connects. */
  readonly host: string;
  readonly port: number;
  readonly proxy: FaultProxy;
  readonly haproxy: RunningHaproxy | undefined;
  describe(): string;
  /** Connections closed for idleness so far (the built-in proxy only; HAProxy does not say). */
  idleClosed(): number | undefined;
  close(): Promise<void>;
}

export async function startInfrastructure(options: InfrastructureOptions): Promise<Infrastructure> {
  let haproxy: RunningHaproxy | undefined;
  let target = options.target;
  if (options.haproxy) {
    haproxy = await startHaproxy(options.target, options.idleTimeoutMs);
    target = { host: haproxy.host, port: haproxy.port };
  }
  // Latency, and the failovers below, come from the fault proxy in front either way.
  const proxy = await FaultProxy.start({
    target,
    delayMs: options.latencyMs,
    idleTimeoutMs: haproxy ? 0 : options.idleTimeoutMs,
  });
  const removeCleanup = onCleanup(() => proxy.close());
  return {
    host: proxy.host,
    port: proxy.port,
    proxy,
    haproxy,
    describe: () =>
      haproxy
        ? `HAProxy ${haproxy.version} (timeout client/server ${options.idleTimeoutMs} ms), ${options.latencyMs} ms latency each way`
        : `a proxy closing connections idle for ${options.idleTimeoutMs} ms (like HAProxy's timeout client/server), ${options.latencyMs} ms latency each way`,
    idleClosed: () => (haproxy ? undefined : proxy.idleClosedCount),
    close: async () => {
      removeCleanup();
      await proxy.close();
      await haproxy?.stop();
    },
  };
}

export type FaultKind = 'forget-idle' | 'terminate' | 'reset';

export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'forget-idle': 'the load balancer fails over and forgets its idle flows: the next packet on each gets an RST',
  terminate: "a failover terminates the service's sessions on the server (pg_terminate_backend, KILL)",
  reset: 'the proxy restarts: every open connection is reset',
};

export interface ScheduledFault {
  atMs: number;
  kind: FaultKind;
}

/** The same faults at the same moments for every run with the same seed and duration. */
export function faultSchedule(durationMs: number, seed: number): ScheduledFault[] {
  const random = seededRandom(seed);
  const kinds: FaultKind[] = ['forget-idle', 'terminate', 'forget-idle', 'reset'];
  const schedule: ScheduledFault[] = [];
  const periodMs = 1500;
  for (let k = 0, at = 1000 + random() * 500; at < durationMs - 500; k++, at += periodMs * (0.7 + random() * 0.6)) {
    schedule.push({ atMs: Math.round(at), kind: kinds[k % kinds.length]! });
  }
  return schedule;
}

export interface FaultContext {
  proxy: FaultProxy;
  /** Ends every session of the service on the server. */
  terminate(): Promise<void>;
  /**
   * No operation in flight and no connection being opened: every flow is idle. (A connection
   * the pool opens in the background, for a waiter already served, counts as busy too.)
   */
  allIdle(): boolean;
}

/** Injects one fault; resolves with whether it could be applied. */
export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<boolean> {
  switch (kind) {
    case 'forget-idle': {
      // A load balancer forgets flows that are idle; one carrying a query or a handshake keeps
      // its state. (A flow forgotten under a running query would hang until TCP gives up.)
      const until = Date.now() + 2000;
      while (!ctx.allIdle() && Date.now() < until) await new Promise((r) => setImmediate(r));
      if (!ctx.allIdle()) return false;
      ctx.proxy.forgetAll();
      return true;
    }
    case 'terminate':
      await ctx.terminate();
      return true;
    case 'reset':
      ctx.proxy.resetAll();
      return true;
  }
}
