/**
 * Run by test/postgres/opentelemetry.test.ts in a child process: the OpenTelemetry SDK with the
 * pg instrumentation registered before pg is loaded (it patches pg on require), then the plugin
 * with instrumentOpenTelemetry(). Prints what was recorded as JSON on stdout.
 *
 * 1. a read inside the app span `read`, whose session the parent kills at the gate;
 * 2. a read inside `refused` against a port nothing listens on: retried, then given up;
 * 3. disable(), and the same as 2 inside `after-disable`.
 */
import { trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { startOtelSdk, type Point } from './otel';

const sdk = startOtelSdk();
registerInstrumentations({ instrumentations: [new PgInstrumentation()] });
// Only now: pg, which Sequelize requires, must be loaded after the instrumentation is registered.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { QueryTypes, Sequelize } = require('sequelize') as typeof import('sequelize');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { autoreconnect, instrumentOpenTelemetry } = require('../../src') as typeof import('../../src');

const tracer = trace.getTracer('app');

/** Runs `work` inside an active span named `name`; settles into a short outcome. */
function inSpan(name: string, work: () => Promise<unknown[]>): Promise<string> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return `rows:${(await work()).length}`;
    } catch (error) {
      const e = error as Error & { reason?: string };
      return `error:${e.name}:${e.reason ?? ''}`;
    } finally {
      span.end();
    }
  });
}

async function main(): Promise<void> {
  const url = process.env['CHILD_URL'];
  const closedUrl = process.env['CHILD_CLOSED_URL'];
  const appName = process.env['CHILD_APP'];
  if (!url || !closedUrl || !appName) throw new Error('CHILD_URL, CHILD_CLOSED_URL and CHILD_APP are required');
  const options = { retries: 2, backoff: { baseMs: 10, maxMs: 20 } };
  const telemetry = instrumentOpenTelemetry({ meterProvider: sdk.meterProvider });

  const sequelize = new Sequelize(url, { logging: false, dialectOptions: { application_name: appName } }).use(autoreconnect(options));
  const refused = () => {
    const instance = new Sequelize(closedUrl, { logging: false, pool: { max: 1, acquire: 5_000 } }).use(autoreconnect(options));
    return instance.query('SELECT 1', { type: QueryTypes.SELECT }).finally(() => instance.close());
  };
  const outcomes: Record<string, string> = {};
  const metrics: Record<string, Point[]> = {};

  outcomes['read'] = await inSpan('read', () =>
    sequelize.query(`SELECT ${process.env['CHILD_GATE'] ?? 'NULL'} AS held`, { type: QueryTypes.SELECT }),
  );
  metrics['read'] = await sdk.metrics();
  outcomes['refused'] = await inSpan('refused', refused);
  metrics['refused'] = await sdk.metrics();
  telemetry.disable();
  outcomes['after-disable'] = await inSpan('after-disable', refused);
  metrics['after-disable'] = await sdk.metrics();
  await sequelize.close();

  const spans = sdk.spans.getFinishedSpans().map((s) => ({
    name: s.name,
    id: s.spanContext().spanId,
    parent: s.parentSpanContext?.spanId,
    status: s.status.code,
    attributes: s.attributes,
    events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
  }));
  await sdk.shutdown();
  process.stdout.write(JSON.stringify({ outcomes, metrics, spans }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
