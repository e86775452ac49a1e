import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dialectFor } from '../../src/dialects';
import { resolveOptions } from '../../src/core/options';
import type { Clock } from '../../src/engine/port';
import type { Engine } from '../../src/engine/state';
import { ConnectTimeoutError } from '../../src/engine/timing';
import { patchDriver } from '../../src/host/patch-driver';
import type { ConnectionManagerInternals } from '../../src/host/probe';

/** A clock whose single pending timer the test fires. */
function manualClock(): Clock & { fire(): void; armed: number } {
  let timer: (() => void) | undefined;
  return {
    now: () => 1000,
    random: () => 0.5,
    setTimer: (fn) => {
      timer = fn;
      return () => (timer = undefined);
    },
    yieldToIO: () => Promise.resolve(),
    fire: () => timer?.(),
    get armed() {
      return timer ? 1 : 0;
    },
  };
}

/** A connection manager whose `connect()` creates a driver connection through `lib` and settles when the test says. */
function fakeManager() {
  let settle: { resolve(value: object): void; reject(error: Error): void } | undefined;
  const lib = { createConnection: () => ({ destroyed: 0, on() {}, destroy() {} }) };
  const cm = {
    lib,
    connect(): Promise<unknown> {
      const connection = (this.lib as typeof lib).createConnection();
      return new Promise((resolve, reject) => (settle = { resolve: () => resolve(connection), reject }));
    },
  };
  return { cm, settle: () => settle! };
}

function setUp(options: object = {}, withHandle = true) {
  const clock = manualClock();
  const host = { debug: () => {} };
  const engine = { clock, host, options: resolveOptions(options), connections: { attempts: new Set() } } as unknown as Engine;
  const { cm, settle } = fakeManager();
  const aborted: object[] = [];
  const dialect = {
    ...dialectFor('mysql')!,
    // Without a handle: a guarded view that never tells of the connection it creates.
    ...(withHandle ? {} : { guardDriver: (lib: object) => lib }),
    abortDriverConnection: (c: object) => void aborted.push(c),
    destroyDriverConnection: () => {},
  };
  patchDriver(engine, cm as unknown as ConnectionManagerInternals, dialect, undefined);
  return { clock, engine, cm: cm as unknown as ConnectionManagerInternals, settle, aborted };
}

describe('a connect that gets no answer', () => {
  it('every dialect classifies the plugin’s connect timeout as transient', () => {
    for (const name of ['postgres', 'mysql', 'mariadb']) {
      assert.equal(dialectFor(name)!.classifier.classifyConnectError(new ConnectTimeoutError(5000, 0)), 'transient', name);
    }
  });

  it('is abandoned at its bound: the driver connection destroyed, the attempt failed, one arriving later destroyed too', async () => {
    const { clock, engine, cm, settle, aborted } = setUp();
    const attempt = cm.connect({} as never);
    assert.equal(engine.connections.attempts.size, 1);
    clock.fire();
    await assert.rejects(attempt, (error: unknown) => error instanceof ConnectTimeoutError && error.startedAt === 1000);
    assert.equal(aborted.length, 1);
    assert.equal(engine.connections.attempts.size, 0);
    settle().resolve({});
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(aborted.length, 2, 'the late connection was destroyed');
  });

  it('clears its timer when the connect settles in time, and is not bounded with connectTimeoutMs: false', async () => {
    const { clock, engine, cm, settle, aborted } = setUp();
    const attempt = cm.connect({} as never);
    settle().resolve({});
    await attempt;
    assert.equal(clock.armed, 0);
    assert.equal(engine.connections.attempts.size, 0);
    assert.equal(aborted.length, 0);
    const off = setUp({ connectTimeoutMs: false });
    void off.cm.connect({} as never);
    assert.equal(off.clock.armed, 0);
  });

  it('is bounded even when the dialect learned no driver connection to destroy', async () => {
    const { clock, cm, aborted } = setUp({}, false);
    const attempt = cm.connect({} as never);
    clock.fire();
    await assert.rejects(attempt, ConnectTimeoutError);
    assert.equal(aborted.length, 0);
  });
});
