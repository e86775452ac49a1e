/**
 * instrumentOpenTelemetry() against real faults, with the OpenTelemetry SDK's in-memory span
 * exporter, a collecting metric reader, and the pg instrumentation active. The scenario runs in
 * a child process (test/support/otel-child.ts) so that the instrumentation patches pg before
 * anything loads it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminUrl, createDatabase, terminateBackends, uniqueAppName, withHostPort } from '../support/db';
import { gate } from '../support/fixture';
import { total, type Point } from '../support/otel';
import { freePort } from '../support/postgres';

interface SpanOut {
  name: string;
  id: string;
  parent?: string;
  status: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes?: Record<string, unknown> }[];
}
interface ChildOut {
  outcomes: Record<string, string>;
  metrics: Record<string, Point[]>;
  spans: SpanOut[];
}

function runChild(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../support/otel-child.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const P = 'sequelize_autoreconnect.';

describe('OpenTelemetry, with the pg instrumentation, against real faults', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let out: ChildOut;
  const password = decodeURIComponent(new URL(adminUrl()).password);

  before(async () => {
    assert.ok(password.length >= 4, 'DATABASE_URL must carry a password for the "never a secret" assertion');
    db = await createDatabase();
    const appName = uniqueAppName('otel');
    const held = await gate(db.url);
    let run: ReturnType<typeof runChild>;
    try {
      run = runChild({
        CHILD_URL: db.url,
        // Nothing listens there: every connect is refused.
        CHILD_CLOSED_URL: withHostPort(db.url, '127.0.0.1', await freePort()),
        CHILD_APP: appName,
        CHILD_GATE: held.sql,
      });
      await held.held(appName);
      assert.equal(await terminateBackends(adminUrl(), appName), 1);
    } finally {
      await held.open();
    }
    const { code, stdout, stderr } = await run;
    assert.equal(code, 0, stderr);
    out = JSON.parse(stdout) as ChildOut;
  });
  after(async () => {
    await db.drop();
  });

  const span = (name: string): SpanOut => {
    const found = out.spans.find((s) => s.name === name);
    assert.ok(found, `no span ${name} in ${out.spans.map((s) => s.name).join()}`);
    return found;
  };

  it('a killed session under a read: lost 1, retry 1, reconnect ok 1, one recovery, and the retry on the app span', () => {
    assert.equal(out.outcomes['read'], 'rows:1');
    const m = out.metrics['read']!;
    const server = {
      'db.system.name': 'postgresql',
      'server.address': new URL(db.url).hostname,
      'server.port': Number(new URL(db.url).port),
    };
    assert.equal(total(m, `${P}connections_lost`, { ...server, [`${P}phase`]: 'query', 'error.type': '57P01' }), 1);
    assert.equal(total(m, `${P}connections_lost`), 1);
    assert.equal(total(m, `${P}retries`, { [`${P}operation`]: 'read' }), 1);
    assert.equal(total(m, `${P}retries`), 1);
    assert.equal(total(m, `${P}reconnect.attempts`, { [`${P}outcome`]: 'ok' }), 1);
    assert.equal(total(m, `${P}reconnect.attempts`), 1);
    assert.equal(total(m, `${P}recovery.duration`, server), 1);
    assert.equal(total(m, `${P}give_ups`), 0);
    const recovery = m.find((p) => p.name === `${P}recovery.duration`)!;
    assert.ok(recovery.sum! > 0 && recovery.sum! < 10, `recovery took ${recovery.sum} s`);

    const app = span('read');
    assert.deepEqual(
      app.events.map((e) => [e.name, e.attributes?.[`${P}attempt`], e.attributes?.[`${P}operation`]]),
      [[`${P}retry`, 1, 'read']],
    );
    assert.equal(app.attributes[`${P}retries`], 1);
    // The pg instrumentation's spans of the statement are the app span's children: the killed
    // one (an error) and the retried one (fine, and ended: its span is exported), so the trace
    // shows both around the retry event. (Sequelize's SETs of each new connection are there too.)
    const queries = out.spans.filter((s) => s.parent === app.id && String(s.attributes['db.query.text']).includes('AS held'));
    assert.deepEqual(
      queries.map((s) => s.status),
      [2, 0],
      JSON.stringify(out.spans.map((s) => [s.name, s.parent === app.id, s.status])),
    );
  });

  it('a give-up: the give_up event on the app span and the counter, with its reason', () => {
    const [, reason] = /^error:SequelizeConnectionRefusedError:(.+)$/.exec(out.outcomes['refused']!) ?? [];
    assert.ok(reason, out.outcomes['refused']);
    const m = out.metrics['refused']!;
    assert.equal(total(m, `${P}give_ups`, { [`${P}reason`]: reason, [`${P}may_have_executed`]: false }), 1);
    assert.equal(total(m, `${P}give_ups`), 1);
    assert.equal(total(m, `${P}reconnect.attempts`, { [`${P}outcome`]: 'failed' }) >= 1, true);
    const app = span('refused');
    const giveUp = app.events.filter((e) => e.name === `${P}give_up`);
    assert.deepEqual(
      giveUp.map((e) => [e.attributes?.[`${P}reason`], e.attributes?.[`${P}may_have_executed`]]),
      [[reason, false]],
    );
    assert.equal(app.attributes[`${P}give_up_reason`], reason);
    assert.equal(app.events.filter((e) => e.name === `${P}retry`).length, 2);
  });

  it('after disable(): the same give-up records nothing', () => {
    assert.match(out.outcomes['after-disable']!, /^error:SequelizeConnectionRefusedError:/);
    const ours = (points: Point[]) => points.filter((p) => p.name.startsWith(P));
    assert.deepEqual(ours(out.metrics['after-disable']!), ours(out.metrics['refused']!));
    assert.deepEqual(span('after-disable').events, []);
  });

  it('never records the password', () => {
    assert.ok(!JSON.stringify(out).includes(password));
  });
});
