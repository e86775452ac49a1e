/**
 * The OpenTelemetry SDK set up for tests: a global tracer provider exporting to memory, an
 * AsyncLocalStorage context manager (so the active span follows async code), and a meter
 * provider whose reader collects on demand. `metrics()` flattens what was recorded.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader that exports nothing by itself: the test collects when it wants to look. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One series of one instrument: a counter's value, or a histogram's count and sum. */
export interface Point {
  readonly name: string;
  readonly unit: string;
  readonly attributes: Record<string, unknown>;
  readonly value?: number;
  readonly count?: number;
  readonly sum?: number;
}

export interface OtelSdk {
  readonly meterProvider: MeterProvider;
  readonly spans: InMemorySpanExporter;
  /** Every series recorded so far (cumulative). */
  metrics(): Promise<Point[]>;
  shutdown(): Promise<void>;
}

export function startOtelSdk(): OtelSdk {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    spans,
    async metrics() {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.flatMap((scope) =>
        scope.metrics.flatMap((metric) =>
          metric.dataPoints.map((point): Point => {
            const base = { name: metric.descriptor.name, unit: metric.descriptor.unit, attributes: { ...point.attributes } };
            if (metric.dataPointType === DataPointType.HISTOGRAM) {
              const h = point.value as { count: number; sum?: number };
              return { ...base, count: h.count, sum: h.sum ?? 0 };
            }
            return { ...base, value: point.value as number };
          }),
        ),
      );
    },
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

/** The total of `name`'s series whose attributes include `where`: counters add values, histograms counts. */
export function total(points: readonly Point[], name: string, where: Record<string, unknown> = {}): number {
  return points
    .filter((p) => p.name === name && Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (p.value ?? p.count ?? 0), 0);
}
