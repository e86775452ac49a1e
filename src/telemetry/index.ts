import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { channels, type ChannelKey, type GiveUpEvent, type RetryEvent } from '../engine/events';
import { PREFIX, type Attributes } from './attributes';
import { recorders, type MeterLike, type Recorders } from './instruments';

export type { MeterLike, InstrumentOptions } from './instruments';

/** The part of `@opentelemetry/api`'s `MeterProvider` used here; any `MeterProvider` fits. */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}

/** What `instrumentOpenTelemetry()` takes. */
export interface OpenTelemetryOptions {
  /**
   * Where the metrics go: by default the global one (`metrics.getMeterProvider()` of
   * `@opentelemetry/api`, which the SDK sets), read once at this call. `false`: no metrics.
   */
  meterProvider?: MeterProviderLike | false;
  /**
   * Add events (`sequelize_autoreconnect.retry`, `sequelize_autoreconnect.give_up`) and
   * attributes to the span active when a statement is retried or given up: the span of your
   * code or of the pg / mysql2 / Sequelize instrumentations, made by your tracer provider.
   * @default true
   */
  spanEvents?: boolean;
}

/** What `instrumentOpenTelemetry()` returns. */
export interface OpenTelemetryHandle {
  /** Stops recording: unsubscribes from every channel. Safe to call more than once. */
  disable(): void;
}

interface SpanLike {
  isRecording(): boolean;
  addEvent(name: string, attributes?: Attributes): unknown;
  setAttribute(key: string, value: string | number | boolean): unknown;
}
interface OpenTelemetryApi {
  metrics: { getMeterProvider(): MeterProviderLike };
  trace: { getActiveSpan(): SpanLike | undefined };
}

/** `@opentelemetry/api`, loaded only now: without this call nothing of OpenTelemetry is required. */
function loadApi(): OpenTelemetryApi {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@opentelemetry/api') as OpenTelemetryApi;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      'instrumentOpenTelemetry() needs the @opentelemetry/api package, which is not installed: ' +
        'npm install @opentelemetry/api (and an OpenTelemetry SDK, such as @opentelemetry/sdk-node, to export what it records)',
      { cause: error },
    );
  }
}

function version(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../package.json') as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Span events: the active span is the caller's, since channels publish synchronously in its async context. */
function spanRecorders(api: OpenTelemetryApi): Recorders {
  const active = (): SpanLike | undefined => {
    const span = api.trace.getActiveSpan();
    return span?.isRecording() ? span : undefined;
  };
  return {
    retry: (e: RetryEvent) => {
      const span = active();
      if (!span) return;
      span.addEvent(`${PREFIX}retry`, {
        [`${PREFIX}attempt`]: e.attempt,
        [`${PREFIX}delay_ms`]: e.delayMs,
        [`${PREFIX}phase`]: e.phase,
        [`${PREFIX}operation`]: e.operation,
      });
      span.setAttribute(`${PREFIX}retries`, e.attempt);
    },
    giveUp: (e: GiveUpEvent) => {
      const span = active();
      if (!span) return;
      const attributes: Attributes = {
        [`${PREFIX}reason`]: e.reason,
        [`${PREFIX}may_have_executed`]: e.mayHaveExecuted,
        [`${PREFIX}attempts`]: e.attempts,
      };
      if (e.committed !== undefined) attributes[`${PREFIX}committed`] = e.committed;
      span.addEvent(`${PREFIX}give_up`, attributes);
      span.setAttribute(`${PREFIX}give_up_reason`, e.reason);
    },
  };
}

/**
 * Records the plugin's events as OpenTelemetry metrics and span events, for every instance
 * (it subscribes to the `channels`). Loads `@opentelemetry/api` now, and only now.
 */
export function instrumentOpenTelemetry(options: OpenTelemetryOptions = {}): OpenTelemetryHandle {
  // Checked for JavaScript callers.
  if (typeof (options as unknown) !== 'object' || (options as unknown) === null) {
    throw new TypeError('instrumentOpenTelemetry() takes an options object such as { meterProvider }, or nothing');
  }
  const { meterProvider, spanEvents } = options as { meterProvider?: unknown; spanEvents?: unknown };
  if (
    meterProvider !== undefined &&
    meterProvider !== false &&
    typeof (meterProvider as MeterProviderLike | null)?.getMeter !== 'function'
  ) {
    throw new TypeError('instrumentOpenTelemetry(): `meterProvider` takes a MeterProvider (an object with getMeter()) or false');
  }
  if (spanEvents !== undefined && typeof spanEvents !== 'boolean') {
    throw new TypeError(`instrumentOpenTelemetry(): \`spanEvents\` takes true or false, got ${typeof spanEvents}`);
  }
  const api = loadApi();
  const provider = options.meterProvider === undefined ? api.metrics.getMeterProvider() : options.meterProvider;
  const sets: Recorders[] = [];
  if (provider !== false) sets.push(recorders(provider.getMeter('sequelize-autoreconnect', version())));
  if (options.spanEvents !== false) sets.push(spanRecorders(api));

  let warned = false;
  const subscriptions: [string, (message: unknown) => void][] = [];
  for (const key of Object.keys(channels) as ChannelKey[]) {
    const record = sets.map((set) => set[key] as ((event: unknown) => void) | undefined).filter((f) => f !== undefined);
    if (record.length === 0) continue;
    const onMessage = (message: unknown): void => {
      // A subscriber that throws becomes an uncaught exception (Node rethrows it): never from here.
      for (const f of record) {
        try {
          f(message);
        } catch (error) {
          if (warned) continue;
          warned = true;
          process.emitWarning(`sequelize-autoreconnect: recording to OpenTelemetry failed: ${String(error)}`);
        }
      }
    };
    subscribe(channels[key], onMessage);
    subscriptions.push([channels[key], onMessage]);
  }
  return {
    disable: () => {
      for (const [name, onMessage] of subscriptions.splice(0)) unsubscribe(name, onMessage);
    },
  };
}
