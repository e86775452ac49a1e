/**
 * instrumentOpenTelemetry() on mysql2 and mariadb against a real fault: a read's session
 * killed mid-query, inside an app span, with the SDK's tracer and a collecting metric reader.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { QueryTypes } from 'sequelize';
import { instrumentOpenTelemetry, type OpenTelemetryHandle } from '../../src';
import { describeWith } from '../support/binaries';
import { mariadbRequirement } from '../support/mariadb';
import { FAMILY, myKilledAtGate, useMyFixture } from '../support/mysql';
import { startOtelSdk, total, type OtelSdk } from '../support/otel';

const P = 'sequelize_autoreconnect.';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: OpenTelemetry metrics and span events`, () => {
    const f = useMyFixture();
    let sdk: OtelSdk;
    let telemetry: OpenTelemetryHandle;
    before(() => {
      sdk = startOtelSdk();
      telemetry = instrumentOpenTelemetry({ meterProvider: sdk.meterProvider });
    });
    after(async () => {
      telemetry.disable();
      await sdk.shutdown();
    });

    it('a killed session under a read: lost 1, retry 1, reconnect ok 1, one recovery, and the retry on the app span', async () => {
      const { sequelize, user } = await f.app(dialect, { proxied: false });
      const result = await trace.getTracer('app').startActiveSpan('read', async (span) => {
        try {
          return await myKilledAtGate(
            f,
            user,
            (held) => sequelize.query(`SELECT ${held.sql} AS gate, 42 AS answer`, { type: QueryTypes.SELECT }),
            1,
          );
        } finally {
          span.end();
        }
      });
      assert.ok(result.ok, !result.ok ? result.error.message : '');

      const m = await sdk.metrics();
      const system = { 'db.system.name': dialect };
      assert.equal(total(m, `${P}connections_lost`, { ...system, [`${P}phase`]: 'query' }), 1);
      assert.equal(total(m, `${P}connections_lost`), 1);
      assert.equal(total(m, `${P}retries`, { ...system, [`${P}operation`]: 'read' }), 1);
      assert.equal(total(m, `${P}reconnect.attempts`, { ...system, [`${P}outcome`]: 'ok' }), 1);
      assert.equal(total(m, `${P}recovery.duration`, system), 1);
      assert.equal(total(m, `${P}give_ups`), 0);

      const [app] = sdk.spans.getFinishedSpans().filter((s) => s.name === 'read');
      assert.deepEqual(
        app!.events.map((e) => [e.name, e.attributes?.[`${P}attempt`]]),
        [[`${P}retry`, 1]],
      );
    });
  });
}
