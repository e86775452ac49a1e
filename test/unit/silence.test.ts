import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveOptions } from '../../src/core/options';
import { connectVerdict, rowVerdict } from '../../src/dialects/postgres/silence';
import { askByServer } from '../../src/dialects/silence-groups';
import type { SessionVerdict, SilenceProbe } from '../../src/dialects/types';
import type { Clock } from '../../src/engine/port';
import { SilenceWatch, type Watched } from '../../src/engine/silence';
import type { Engine } from '../../src/engine/state';

describe('what pg_stat_activity says of a silent session', () => {
  const row = (fields: Record<string, unknown>) => ({ me: 11, pid: 22, state: 'active', started: 'T1', idle_ms: 0, ...fields });
  it('running on the same statement: alive; on another, idle or gone: lost', () => {
    assert.deepEqual(rowVerdict(row({}), 11, undefined, 1000), { state: 'running', started: 'T1' });
    assert.deepEqual(rowVerdict(row({}), 11, 'T1', 1000), { state: 'running', started: 'T1' });
    assert.equal(rowVerdict(row({ started: 'T2' }), 11, 'T1', 1000).state, 'lost');
    assert.equal(rowVerdict(row({ state: 'idle', idle_ms: 1500 }), 11, undefined, 1000).state, 'lost');
    assert.equal(rowVerdict(row({ state: 'idle in transaction', idle_ms: 1500 }), 11, undefined, 1000).state, 'lost');
    assert.equal(rowVerdict(row({ pid: null, state: null, started: null, idle_ms: null }), 11, undefined, 1000).state, 'lost');
  });
  it('never lost on doubt: just finished, hidden, untracked, or behind a pooler', () => {
    assert.equal(rowVerdict(row({ state: 'idle', idle_ms: 200 }), 11, undefined, 1000).state, 'unknown');
    assert.equal(rowVerdict(row({ state: null }), 11, undefined, 1000).state, 'unknown');
    assert.equal(rowVerdict(row({ state: 'disabled' }), 11, undefined, 1000).state, 'unknown');
    assert.equal(rowVerdict(row({ me: 99 }), 11, undefined, 1000).state, 'pooled');
  });
  it('a refusal for too many connections is proof of life; an unreachable server is a lost session', () => {
    assert.equal(connectVerdict({ code: '53300', message: 'sorry, too many clients already' }).state, 'alive');
    assert.equal(connectVerdict({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }).state, 'lost');
    assert.equal(connectVerdict(new Error('Connection terminated due to connection timeout')).state, 'lost');
    assert.equal(connectVerdict({ code: '28P01', message: 'password authentication failed' }).state, 'unknown');
  });
});

describe('the silence watchdog', () => {
  function setUp(verdict: SessionVerdict) {
    const timers: Array<() => void> = [];
    const clock: Clock = {
      now: () => 0,
      random: () => 0.5,
      setTimer: (fn) => (timers.push(fn), () => {}),
      yieldToIO: () => Promise.resolve(),
    };
    const socket = { bytes: 100, cuts: [] as Error[], asked: 0, batches: [] as number[] };
    const probe: SilenceProbe = {
      bytesRead: () => socket.bytes,
      ask: (subjects) => {
        socket.asked += subjects.length;
        socket.batches.push(subjects.length);
        return Promise.resolve(subjects.map(() => verdict));
      },
      cut: (_c, error) => socket.cuts.push(error),
      keepAlive: () => {},
    };
    const engine = {
      clock,
      closed: false,
      options: resolveOptions({}),
      host: { debug() {} },
      redact: (t: string) => t,
    } as unknown as Engine;
    // silenceMs 1000: a tick every 500 ms, a check after 3 silent ticks (the first may come at once).
    const watch = new SilenceWatch(engine, probe, 1000);
    const watched: Watched = {
      connection: {},
      serial: 0,
      heardTick: 0,
      bytes: -1,
      nextCheckTick: 0,
      checks: 0,
      checking: false,
      started: undefined,
      prev: undefined,
      next: undefined,
    };
    /** Fires the pending tick `n` times; resolves once a check's answer was handled. */
    const tick = async (n = 1) => {
      for (let i = 0; i < n; i++) {
        timers.shift()?.();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    return { engine, watch, watched, socket, timers, tick };
  }

  it('cuts a statement silent for silenceMs whose answer was lost, and stops ticking once none is in flight', async () => {
    const { watch, watched, socket, timers, tick } = setUp({ state: 'lost', why: 'its session is idle' });
    watch.start(watched, {});
    assert.equal(timers.length, 1);
    await tick(2);
    assert.equal(socket.asked, 0, 'asked before silenceMs');
    await tick();
    assert.equal(socket.cuts.length, 1);
    assert.match(socket.cuts[0]!.message, /^Connection terminated unexpectedly/);
    watch.end(watched);
    await tick();
    assert.equal(timers.length, 0, 'the tick goes on with nothing in flight');
  });

  it('leaves a statement that still receives bytes, or that the server says is running, alone', async () => {
    const { watch, watched, socket, tick } = setUp({ state: 'running', started: 'T1' });
    const other = { ...watched };
    watch.start(other, {});
    watch.start(watched, {});
    watch.end(other);
    await tick();
    socket.bytes = 200;
    await tick(3);
    assert.equal(socket.asked, 0);
    await tick();
    assert.equal(socket.asked, 1);
    await tick(1);
    assert.equal(socket.asked, 1, 'asked again before its backoff');
    await tick();
    assert.equal(socket.asked, 2);
    assert.equal(socket.cuts.length, 0);
  });

  it('after close, still cuts a statement in flight whose answer was lost (close waits for it), then stops', async () => {
    const { engine, watch, watched, socket, timers, tick } = setUp({ state: 'lost', why: 'gone' });
    watch.start(watched, {});
    await tick();
    engine.closed = true;
    await tick(2);
    assert.equal(socket.asked, 1);
    assert.equal(socket.cuts.length, 1);
    watch.end(watched);
    await tick();
    assert.equal(timers.length, 0, 'the tick goes on with nothing in flight');
  });

  it('asks about every statement found silent at one tick in one batch (the probe opens one check per server)', async () => {
    const { watch, watched, socket, tick } = setUp({ state: 'lost', why: 'its session is idle' });
    const others = [{ ...watched }, { ...watched }];
    watch.start(watched, {});
    for (const other of others) watch.start(other, {});
    await tick(3);
    assert.deepEqual(socket.batches, [3]);
    assert.equal(socket.cuts.length, 3);
  });
});

describe('silent sessions asked about by server', () => {
  it('one batch per server, each verdict back in its place; a session that cannot be asked about is unknown', async () => {
    const where: Record<string, { origin: string; server: string; id: number } | undefined> = {
      a: { origin: 'A', server: 'one', id: 1 },
      b: { origin: 'B', server: 'two', id: 2 },
      c: { origin: 'A', server: 'one', id: 3 },
      d: undefined,
    };
    const batches: Array<{ origin: string; ids: number[]; started: Array<string | undefined> }> = [];
    const subjects = ['a', 'b', 'c', 'd'].map((connection, i) => ({ connection, started: `T${i}` }));
    const verdicts = await askByServer(
      subjects,
      (c) => where[c as string],
      { state: 'unknown', why: 'no id' },
      (batch) => {
        batches.push({ origin: batch.origin, ids: batch.ids, started: batch.started });
        return Promise.resolve((index: number) => ({ state: 'lost', why: `${batch.origin}:${batch.ids[index]}` }) as const);
      },
    );
    assert.deepEqual(batches, [
      { origin: 'A', ids: [1, 3], started: ['T0', 'T2'] },
      { origin: 'B', ids: [2], started: ['T1'] },
    ]);
    assert.deepEqual(
      verdicts.map((v) => ('why' in v ? v.why : v.state)),
      ['A:1', 'B:2', 'A:3', 'no id'],
    );
  });
});
