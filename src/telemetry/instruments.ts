import type { ReconnectEvents } from '../engine/events';
import { baseAttributes, PREFIX, triState, type Attributes } from './attributes';

/**
 * The parts of `@opentelemetry/api`'s `Meter` used here, written out so that the published
 * types do not name a package the user may not have installed; any `Meter` fits.
 */
export interface MeterLike {
  createCounter(name: string, options?: InstrumentOptions): { add(value: number, attributes?: Attributes): void };
  createHistogram(name: string, options?: InstrumentOptions): { record(value: number, attributes?: Attributes): void };
}

/** The options passed when creating an instrument (`advice` needs @opentelemetry/api 1.7; older ones ignore it). */
export interface InstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** Seconds: the buckets of the semantic conventions' `db.client.operation.duration`, and longer outages. */
const SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120];

/** What each channel records; events are in milliseconds, OpenTelemetry durations in seconds. */
export type Recorders = { [K in keyof ReconnectEvents]?: (event: ReconnectEvents[K]) => void };

export function recorders(meter: MeterLike): Recorders {
  const counter = (name: string, unit: string, description: string) => meter.createCounter(PREFIX + name, { unit, description });
  const histogram = (name: string, description: string) =>
    meter.createHistogram(PREFIX + name, { unit: 's', description, advice: { explicitBucketBoundaries: SECONDS } });

  const lost = counter('connections_lost', '{connection}', 'Connections found lost, or connects that failed in a way worth acting on');
  const retries = counter('retries', '{retry}', 'Retries started (of a statement, a connect, or a whole managed transaction)');
  const reconnects = counter('reconnect.attempts', '{attempt}', 'Attempts to obtain a replacement connection, by outcome');
  const reconnectTime = histogram('reconnect.duration', 'Time one attempt to obtain a replacement connection took, by outcome');
  const giveUps = counter('give_ups', '{operation}', 'Operations that failed for good with a lost connection, by reason');
  const recovery = histogram('recovery.duration', 'Outage as one operation saw it: its first failure to its success after a retry');
  const settlements = counter('settlements', '{commit}', 'Lost COMMITs whose outcome was asked of the server, by answer');
  const replays = counter('transaction_replays', '{transaction}', 'Managed transactions run again from the start');
  const validationFailures = counter('validation_failures', '{connection}', 'Idle connections found dead when checked before reuse');
  const sweeps = counter('sweeps', '{sweep}', 'Pools whose older idle connections became suspect after a failure, by pool and reason');
  const retirements = counter('retirements', '{connection}', 'Healthy connections closed: too old, or pointing at a read-only server');
  const detection = histogram('silence.detection_time', 'From the start of a silence to the socket destroyed by the watchdog');

  return {
    connectionLost: (e) =>
      lost.add(1, {
        ...baseAttributes(e),
        // The driver's code when it has one (ECONNRESET, 57P01, ...): a bounded set.
        'error.type': e.code ?? e.failure,
        [`${PREFIX}phase`]: e.phase,
        [`${PREFIX}failure`]: e.failure,
        [`${PREFIX}in_transaction`]: e.inTransaction,
      }),
    reconnect: (e) => {
      const attributes: Attributes = { ...baseAttributes(e), [`${PREFIX}outcome`]: e.ok ? 'ok' : 'failed' };
      if (!e.ok) attributes['error.type'] = e.failure ?? '_OTHER';
      reconnects.add(1, attributes);
      reconnectTime.record(e.durationMs / 1000, attributes);
    },
    retry: (e) => retries.add(1, { ...baseAttributes(e), [`${PREFIX}phase`]: e.phase, [`${PREFIX}operation`]: e.operation }),
    giveUp: (e) =>
      giveUps.add(1, {
        ...baseAttributes(e),
        [`${PREFIX}reason`]: e.reason,
        [`${PREFIX}may_have_executed`]: e.mayHaveExecuted,
        [`${PREFIX}committed`]: triState(e.committed),
      }),
    recovered: (e) => recovery.record(e.elapsedMs / 1000, baseAttributes(e)),
    settled: (e) => settlements.add(1, { ...baseAttributes(e), [`${PREFIX}kind`]: e.kind, [`${PREFIX}committed`]: triState(e.committed) }),
    transactionReplayed: (e) => replays.add(1, baseAttributes(e)),
    validationFailed: (e) => validationFailures.add(1, baseAttributes(e)),
    // A sweep is lazy: what it finds arrives as validation failures and retirements.
    sweep: (e) => sweeps.add(1, { ...baseAttributes(e), [`${PREFIX}pool`]: e.pool, [`${PREFIX}reason`]: e.reason }),
    retired: (e) => retirements.add(1, { ...baseAttributes(e), [`${PREFIX}reason`]: e.reason }),
    silenceDetected: (e) => detection.record(e.detectionMs / 1000, baseAttributes(e)),
  };
}
