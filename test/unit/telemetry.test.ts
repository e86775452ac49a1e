import assert from 'node:assert/strict';
import { channel } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { channels, instrumentOpenTelemetry, type ReconnectEvents } from '../../src';
import { baseAttributes } from '../../src/telemetry/attributes';
import { startOtelSdk, total, type OtelSdk } from '../support/otel';

/** Publishes a made-up event on a channel, as the engine would. */
function publish<K extends keyof ReconnectEvents>(key: K, fields: Omit<ReconnectEvents[K], 'sequelize' | 'dialect' | 'host'>): void {
  channel(channels[key]).publish({ sequelize: {}, dialect: 'postgres', host: 'db.internal:6432', ...fields });
}

/** One of each event. */
function publishOneOfEach(): void {
  publish('connectionLost', { phase: 'query', failure: 'lost', code: '57P01', inTransaction: false });
  publish('retry', { attempt: 1, delayMs: 20, phase: 'query', operation: 'read' });
  publish('reconnect', { attempt: 1, ok: false, durationMs: 5, failure: 'transient' });
  publish('reconnect', { attempt: 1, ok: true, durationMs: 250 });
  publish('recovered', { attempts: 2, elapsedMs: 1500 });
  publish('giveUp', { reason: 'write-may-have-executed', mayHaveExecuted: true, committed: undefined, attempts: 1, elapsedMs: 3 });
  publish('settled', { kind: 'commit', committed: true });
  publish('transactionReplayed', { attempt: 1 });
  publish('validationFailed', { idleMs: 60_000 });
  publish('sweep', { pool: 'write', reason: 'dead' });
  publish('retired', { reason: 'lifetime', ageMs: 600_000 });
  publish('silenceDetected', { silentMs: 900, detectionMs: 1200, verdict: 'no answer' });
}

describe('OpenTelemetry attributes', () => {
  it('splits host:port into server.address and server.port, IPv6 included, and names the system as the conventions do', () => {
    assert.deepEqual(baseAttributes({ dialect: 'postgres', host: 'db.internal:6432' }), {
      'db.system.name': 'postgresql',
      'server.address': 'db.internal',
      'server.port': 6432,
    });
    assert.deepEqual(baseAttributes({ dialect: 'mariadb', host: '[::1]:3306' }), {
      'db.system.name': 'mariadb',
      'server.address': '::1',
      'server.port': 3306,
    });
    assert.deepEqual(baseAttributes({ dialect: 'mysql', host: '::1' }), { 'db.system.name': 'mysql', 'server.address': '::1' });
    assert.deepEqual(baseAttributes({ dialect: 'mysql', host: 'localhost' }), { 'db.system.name': 'mysql', 'server.address': 'localhost' });
  });
});

describe('instrumentOpenTelemetry with the SDK', () => {
  let sdk: OtelSdk;
  before(() => {
    sdk = startOtelSdk();
  });
  after(async () => {
    await sdk.shutdown();
  });

  it('records each event as its metric, in seconds, with the conventions’ attributes; disable() stops it', async () => {
    const handle = instrumentOpenTelemetry({ meterProvider: sdk.meterProvider, spanEvents: false });
    publishOneOfEach();
    const points = await sdk.metrics();
    const server = { 'db.system.name': 'postgresql', 'server.address': 'db.internal', 'server.port': 6432 };
    const lost = points.filter((p) => p.name === 'sequelize_autoreconnect.connections_lost');
    assert.deepEqual(lost, [
      {
        name: 'sequelize_autoreconnect.connections_lost',
        unit: '{connection}',
        attributes: {
          ...server,
          'error.type': '57P01',
          'sequelize_autoreconnect.phase': 'query',
          'sequelize_autoreconnect.failure': 'lost',
          'sequelize_autoreconnect.in_transaction': false,
        },
        value: 1,
      },
    ]);
    assert.equal(total(points, 'sequelize_autoreconnect.retries', { 'sequelize_autoreconnect.operation': 'read' }), 1);
    assert.equal(total(points, 'sequelize_autoreconnect.reconnect.attempts', { 'sequelize_autoreconnect.outcome': 'ok' }), 1);
    assert.equal(
      total(points, 'sequelize_autoreconnect.reconnect.attempts', {
        'sequelize_autoreconnect.outcome': 'failed',
        'error.type': 'transient',
      }),
      1,
    );
    const reconnectOk = points.find(
      (p) => p.name === 'sequelize_autoreconnect.reconnect.duration' && p.attributes['sequelize_autoreconnect.outcome'] === 'ok',
    );
    assert.deepEqual([reconnectOk?.unit, reconnectOk?.count, reconnectOk?.sum], ['s', 1, 0.25]);
    const recovery = points.find((p) => p.name === 'sequelize_autoreconnect.recovery.duration');
    assert.deepEqual([recovery?.count, recovery?.sum, recovery?.attributes], [1, 1.5, server]);
    assert.equal(
      total(points, 'sequelize_autoreconnect.give_ups', {
        'sequelize_autoreconnect.reason': 'write-may-have-executed',
        'sequelize_autoreconnect.may_have_executed': true,
        'sequelize_autoreconnect.committed': 'unknown',
      }),
      1,
    );
    assert.equal(total(points, 'sequelize_autoreconnect.settlements', { 'sequelize_autoreconnect.committed': 'true' }), 1);
    assert.equal(total(points, 'sequelize_autoreconnect.transaction_replays'), 1);
    assert.equal(total(points, 'sequelize_autoreconnect.validation_failures'), 1);
    assert.equal(
      total(points, 'sequelize_autoreconnect.sweeps', {
        'sequelize_autoreconnect.pool': 'write',
        'sequelize_autoreconnect.reason': 'dead',
      }),
      1,
    );
    assert.equal(total(points, 'sequelize_autoreconnect.retirements', { 'sequelize_autoreconnect.reason': 'lifetime' }), 1);
    const detection = points.find((p) => p.name === 'sequelize_autoreconnect.silence.detection_time');
    assert.deepEqual([detection?.count, detection?.sum], [1, 1.2]);

    handle.disable();
    handle.disable();
    publishOneOfEach();
    assert.deepEqual(await sdk.metrics(), points, 'something was recorded after disable()');
  });

  it('adds the retry and give-up events to the active span, and nothing without one', async () => {
    const handle = instrumentOpenTelemetry({ meterProvider: false });
    try {
      // No active span: nothing to add to, and nothing thrown.
      publish('retry', { attempt: 1, delayMs: 0, phase: 'connect', operation: 'read' });
      await trace.getTracer('test').startActiveSpan('app', async (span) => {
        await Promise.resolve();
        publish('retry', { attempt: 1, delayMs: 20, phase: 'query', operation: 'read' });
        publish('giveUp', { reason: 'retries-exhausted', mayHaveExecuted: false, committed: undefined, attempts: 2, elapsedMs: 40 });
        span.end();
      });
      const [app, ...others] = sdk.spans.getFinishedSpans();
      assert.equal(others.length, 0);
      assert.deepEqual(
        app!.events.map((e) => [e.name, e.attributes]),
        [
          [
            'sequelize_autoreconnect.retry',
            {
              'sequelize_autoreconnect.attempt': 1,
              'sequelize_autoreconnect.delay_ms': 20,
              'sequelize_autoreconnect.phase': 'query',
              'sequelize_autoreconnect.operation': 'read',
            },
          ],
          [
            'sequelize_autoreconnect.give_up',
            {
              'sequelize_autoreconnect.reason': 'retries-exhausted',
              'sequelize_autoreconnect.may_have_executed': false,
              'sequelize_autoreconnect.attempts': 2,
            },
          ],
        ],
      );
      assert.equal(app!.attributes['sequelize_autoreconnect.retries'], 1);
      assert.equal(app!.attributes['sequelize_autoreconnect.give_up_reason'], 'retries-exhausted');
    } finally {
      handle.disable();
      sdk.spans.reset();
    }
  });

  it('never throws into the code that publishes, and warns once, when recording fails', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    const broken = {
      getMeter: () => ({
        createCounter: () => ({
          add: () => {
            throw new Error('exporter broke');
          },
        }),
        createHistogram: () => ({ record: () => {} }),
      }),
    };
    const handle = instrumentOpenTelemetry({ meterProvider: broken, spanEvents: false });
    try {
      publishOneOfEach();
      publishOneOfEach();
      // Node would rethrow a subscriber's error on the next tick, and emits warnings on one too.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(uncaught, []);
      assert.equal(warnings.filter((w) => w.includes('exporter broke')).length, 1, warnings.join('\n'));
    } finally {
      handle.disable();
      process.off('warning', onWarning);
      process.off('uncaughtException', onUncaught);
    }
  });

  it('refuses options that are not an object, or of the wrong type, with a TypeError naming the option', () => {
    assert.throws(() => instrumentOpenTelemetry(42 as never), TypeError);
    assert.throws(() => instrumentOpenTelemetry({ meterProvider: {} as never }), /`meterProvider` takes a MeterProvider/);
    assert.throws(() => instrumentOpenTelemetry({ meterProvider: true as never }), /`meterProvider` takes a MeterProvider/);
    assert.throws(() => instrumentOpenTelemetry({ spanEvents: 'yes' as never }), /`spanEvents` takes true or false, got string/);
  });
});

describe('docs/API.md, OpenTelemetry', () => {
  it('lists exactly the instruments the code creates, with their kind and unit', () => {
    const created: string[] = [];
    const meter = {
      createCounter: (name: string, o?: { unit?: string }) => (created.push(`${name} counter ${o?.unit}`), { add: () => {} }),
      createHistogram: (name: string, o?: { unit?: string }) => (created.push(`${name} histogram ${o?.unit}`), { record: () => {} }),
    };
    instrumentOpenTelemetry({ meterProvider: { getMeter: () => meter }, spanEvents: false }).disable();
    const api = readFileSync(join(__dirname, '../../docs/API.md'), 'utf8');
    const section = api.slice(api.indexOf('\n## OpenTelemetry'));
    // Rows: | `name` | counter | `unit` | attributes | meaning |
    const documented = [...section.matchAll(/^\| `(sequelize_autoreconnect\.[\w.]+)` \| (counter|histogram) \| `([^`]+)` \|/gm)].map(
      ([, name, kind, unit]) => `${name} ${kind} ${unit}`,
    );
    assert.ok(created.length >= 10, created.join());
    assert.deepEqual(documented.sort(), created.sort());
  });
});
