import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectGate, ConnectGates } from '../../src/engine/connect-gate';
import type { Clock } from '../../src/engine/port';

function fakeClock() {
  const timers: Array<{ fn: () => void; live: boolean }> = [];
  const clock: Clock = {
    now: () => 0,
    random: () => 0.5,
    setTimer: (fn) => {
      const timer = { fn, live: true };
      timers.push(timer);
      return () => (timer.live = false);
    },
    yieldToIO: () => Promise.resolve(),
  };
  const fire = () => timers.splice(0).forEach((t) => t.live && t.fn());
  return { clock, timers, fire };
}

const settled = async (p: Promise<void> | undefined) => {
  let done = p === undefined;
  void p?.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('the connect gate', () => {
  it('lets one connection open at a time, the next as soon as it settles', async () => {
    const { clock } = fakeClock();
    const gate = new ConnectGate(clock, 250);
    assert.equal(await settled(gate.enter()), true);
    const second = gate.enter();
    const third = gate.enter();
    assert.equal(await settled(second), false);
    gate.leave();
    assert.equal(await settled(second), true);
    assert.equal(await settled(third), false);
    gate.leave();
    assert.equal(await settled(third), true);
  });

  it('is a pace, not a lock: a waiter goes after maxWaitMs, and every waiter at close()', async () => {
    const { clock, fire } = fakeClock();
    const gate = new ConnectGate(clock, 250);
    void gate.enter();
    const second = gate.enter();
    const third = gate.enter();
    fire();
    assert.equal(await settled(second), true, 'a login that hangs does not hold the next');
    assert.equal(await settled(third), true);
    const fourth = gate.enter();
    gate.openAll();
    assert.equal(await settled(fourth), true);
    assert.equal(gate.enter(), undefined, 'nobody waits after close()');
  });

  it('paces logins per server: one hanging on a replica does not hold a login to the primary', async () => {
    const { clock } = fakeClock();
    const gates = new ConnectGates(clock, 250);
    const replica = { host: 'replica', port: 5432 };
    const primary = { host: 'primary', port: 5432 };
    void gates.of(replica).enter();
    assert.equal(await settled(gates.of({ ...replica }).enter()), false, 'the same server, other settings objects: paced');
    assert.equal(await settled(gates.of(primary).enter()), true);
    assert.equal(await settled(gates.of({ host: 'replica', port: 5433 }).enter()), true, 'another port is another server');
    gates.openAll();
    const later = gates.of({ host: 'new' });
    void later.enter();
    assert.equal(later.enter(), undefined, 'nobody waits after close(), at a gate made since too');
  });
});
