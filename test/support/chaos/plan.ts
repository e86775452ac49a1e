/**
 * What one chaos seed means: the instances, their options, the workload's mix and the fault
 * schedule. Pure: the same seed, length and flags always give the same plan, so a failing seed
 * can be replayed (the timing of the machine still varies; the choices do not).
 */
import type { AutoReconnectOptions } from '../../../src';
import type { FaultAction } from '../fault-proxy';
import { rng, streamSeed, type Rng } from '../random';

export type OpKind = 'read' | 'slow-read' | 'insert' | 'upsert' | 'transaction' | 'bad-statement';

export interface InstancePlan {
  /** Short name, part of tags and keys: `p0`, `p1`, `bare`. */
  readonly name: string;
  /** Plugin options (always a deadline and retries), or false for bare Sequelize. */
  readonly plugin: (AutoReconnectOptions & { deadlineMs: number; retries: number; validateTimeoutMs: number }) | false;
  readonly poolMax: number;
  readonly workers: number;
  /** Closed while its workers still run and the faults go on, this long into the run. */
  readonly closeEarlyAtMs: number | undefined;
  /** One-way latency of its proxy: on loopback a close is seen at once, latency opens the races. */
  readonly delayMs: number;
}

export type Fault =
  | { readonly kind: 'terminate'; readonly state: 'active' | 'idle' | 'any'; readonly which: 'one' | 'all' }
  | { readonly kind: 'reset' | 'cut' }
  /** Forget or mute every open connection, then end them (FIN) after `holdMs`, as a keepalive would. */
  | { readonly kind: 'forget' | 'mute'; readonly holdMs: number }
  /**
   * Black-hole the next statement's connection once it reached the server (`one`), or every open
   * connection (`all`): nothing later on the path reaches them (not even a restart's FIN), and
   * nothing ends them but the plugin's silence watchdog.
   */
  | { readonly kind: 'silence'; readonly which: 'one' | 'all' }
  /** Refuse new connections for `ms`, after resetting the open ones if `reset`. */
  | { readonly kind: 'refuse'; readonly ms: number; readonly reset: boolean }
  /** The next statement matching `target` meets `action` (on every proxy). */
  | { readonly kind: 'arm'; readonly target: 'insert' | 'commit' | 'any-statement'; readonly action: FaultAction }
  | { readonly kind: 'restart'; readonly mode: 'fast' | 'immediate'; readonly downMs: number };

export interface Step {
  /** Pause before this fault, after the previous one finished. */
  readonly afterMs: number;
  readonly fault: Fault;
}

export interface Plan {
  readonly seed: number;
  readonly seconds: number;
  readonly instances: readonly InstancePlan[];
  readonly steps: readonly Step[];
  /** Weights of the operations each worker draws from. */
  readonly mix: Readonly<Record<OpKind, number>>;
  /** Pause between one worker's operations. */
  readonly pauseMs: readonly [number, number];
}

export interface PlanFlags {
  /** Add a bare Sequelize instance (its errors are not checked; it only adds load and faults). */
  readonly bare?: boolean;
}

/** Longest hold of a mute or forget: a statement stranded on it waits this long at most. */
export const MAX_HOLD_MS = 900;

export function planRun(seed: number, seconds: number, flags: PlanFlags = {}): Plan {
  const r = rng(streamSeed(seed, 0));
  const count = r.chance(0.4) ? 2 : 1;
  // Definite outcomes draw from a stream of their own, so that older seeds keep their schedules.
  const outcomes = rng(streamSeed(seed, 2));
  // The silence watchdog and the silent faults draw from streams of their own too.
  const silence = rng(streamSeed(seed, 3));
  const instances: InstancePlan[] = Array.from({ length: count }, (_, i) =>
    withSilence(silence, withOutcomes(outcomes, pluginInstance(r, `p${i}`, seconds))),
  );
  if (flags.bare)
    instances.push({ name: 'bare', plugin: false, poolMax: r.int(2, 4), workers: r.int(2, 3), closeEarlyAtMs: undefined, delayMs: 0 });
  const mix: Record<OpKind, number> = {
    read: r.int(15, 40),
    'slow-read': r.int(5, 15),
    insert: r.int(10, 30),
    upsert: r.int(5, 20),
    transaction: r.int(5, 20),
    'bad-statement': r.int(1, 5),
  };
  const steps = schedule(rng(streamSeed(seed, 1)), rng(streamSeed(seed, 4)), seconds * 1000);
  return { seed, seconds, instances, steps, mix, pauseMs: [0, r.int(5, 30)] };
}

/** Some instances verify their writes (`retryWrites: 'verified'`), some replay managed transactions. */
function withOutcomes(r: Rng, instance: InstancePlan): InstancePlan {
  if (!instance.plugin) return instance;
  const verified = r.chance(0.35);
  // Drawn whatever the rest, so that every other seed's plan stays as it was; never with
  // `retryWrites: 'never'`, which forbids replaying (a TypeError at use()).
  const replay = r.chance(0.5);
  const retryWrites = verified ? ('verified' as const) : instance.plugin.retryWrites;
  return {
    ...instance,
    plugin: { ...instance.plugin, replayTransactions: replay && retryWrites !== 'never', retryWrites },
  };
}

/** Every plugin instance watches for silence: the silent faults would otherwise hang it past any deadline. */
function withSilence(r: Rng, instance: InstancePlan): InstancePlan {
  if (!instance.plugin) return instance;
  return { ...instance, plugin: { ...instance.plugin, silenceMs: r.int(300, 1000) } };
}

function pluginInstance(r: Rng, name: string, seconds: number): InstancePlan {
  const baseMs = r.int(5, 50);
  return {
    name,
    plugin: {
      retries: r.int(2, 12),
      deadlineMs: r.int(1500, 4000),
      backoff: { baseMs, maxMs: baseMs * r.int(2, 10) },
      retryWrites: r.chance(0.8) ? 'unsent' : 'never',
      validateIdleMs: r.pick([0, 100, 500, false] as const),
      validateTimeoutMs: r.int(200, 800),
      sweep: r.chance(0.8),
    },
    poolMax: r.int(2, 6),
    workers: r.int(2, 6),
    closeEarlyAtMs: r.chance(0.25) ? r.int(Math.floor(seconds * 300), Math.floor(seconds * 900)) : undefined,
    delayMs: r.pick([0, 0, 1, 3]),
  };
}

const FAULT_WEIGHTS = {
  terminate: 24,
  reset: 10,
  cut: 8,
  forget: 8,
  mute: 8,
  refuse: 8,
  arm: 20,
  restart: 6,
} as const;

/**
 * Faults back to back, 50-400 ms apart, until `totalMs` of pauses are used up. Half the mutes and
 * some resets and cuts (chosen by `silent`, so that the rest of a seed's schedule is what it was)
 * become silences.
 */
function schedule(r: Rng, silent: Rng, totalMs: number): Step[] {
  const steps: Step[] = [];
  // Each restart takes a second or more: a few per run, however long.
  let restartsLeft = Math.max(1, Math.floor(totalMs / 4000));
  for (let elapsed = 0; steps.length < 10_000;) {
    const afterMs = r.int(50, 400);
    elapsed += afterMs;
    if (elapsed >= totalMs) break;
    let kind = r.weighted(FAULT_WEIGHTS);
    if (kind === 'restart' && restartsLeft-- <= 0) kind = 'reset';
    const drawn = fault(r, kind);
    const silenced = (kind === 'mute' || kind === 'cut' || kind === 'reset') && silent.chance(kind === 'mute' ? 0.5 : 0.3);
    steps.push({ afterMs, fault: silenced ? { kind: 'silence', which: silent.pick(['one', 'all'] as const) } : drawn });
  }
  return steps;
}

function fault(r: Rng, kind: keyof typeof FAULT_WEIGHTS): Fault {
  switch (kind) {
    case 'terminate':
      return { kind, state: r.pick(['active', 'idle', 'any'] as const), which: r.pick(['one', 'all'] as const) };
    case 'reset':
    case 'cut':
      return { kind };
    case 'forget':
    case 'mute':
      return { kind, holdMs: r.int(100, MAX_HOLD_MS) };
    case 'refuse':
      return { kind, ms: r.int(50, 600), reset: r.chance(0.5) };
    case 'arm':
      return {
        kind,
        target: r.weighted({ insert: 5, commit: 3, 'any-statement': 2 }),
        action: r.pick(['reset', 'cut-after-send', 'swallow-reply'] as const),
      };
    case 'restart':
      return { kind, mode: r.pick(['fast', 'immediate'] as const), downMs: r.int(0, 800) };
  }
}

/** One line per fault, for a report. */
export function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'terminate':
      return `terminate ${f.which} ${f.state}`;
    case 'forget':
    case 'mute':
      return `${f.kind} ${f.holdMs} ms`;
    case 'silence':
      return `silence ${f.which}`;
    case 'refuse':
      return `refuse ${f.ms} ms${f.reset ? ' after reset' : ''}`;
    case 'arm':
      return `${f.action} on ${f.target}`;
    case 'restart':
      return `${f.mode} restart, down ${f.downMs} ms`;
    default:
      return f.kind;
  }
}
