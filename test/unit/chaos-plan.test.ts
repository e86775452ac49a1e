import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autoreconnect } from '../../src';
import { MAX_HOLD_MS, planRun } from '../support/chaos/plan';
import { rng, seededRandom, streamSeed } from '../support/random';

describe('chaos plan', () => {
  it('is the same for the same seed, so a failing seed replays its faults and workload', () => {
    assert.deepEqual(planRun(42, 4), planRun(42, 4));
    assert.deepEqual(planRun(42, 4, { bare: true }).instances.slice(0, -1), planRun(42, 4).instances);
    assert.notDeepEqual(planRun(42, 4), planRun(43, 4));
  });

  it('fits its faults in the run, with few restarts and bounded holds', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const plan = planRun(seed, 4);
      assert.ok(plan.steps.reduce((sum, s) => sum + s.afterMs, 0) < 4000, `seed ${seed}`);
      assert.ok(plan.steps.filter((s) => s.fault.kind === 'restart').length <= 1, `seed ${seed}`);
      for (const { fault } of plan.steps) if (fault.kind === 'mute' || fault.kind === 'forget') assert.ok(fault.holdMs <= MAX_HOLD_MS);
      assert.ok(plan.instances.every((i) => i.plugin === false || (i.plugin.deadlineMs > 0 && i.plugin.retries > 0)));
    }
  });

  it('has silent faults, and the silence watchdog on every plugin instance, below its deadline', () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 200; seed++) {
      const plan = planRun(seed, 4);
      for (const { fault } of plan.steps) if (fault.kind === 'silence') kinds.add(fault.which);
      for (const { plugin } of plan.instances) {
        if (plugin === false) continue;
        assert.equal(typeof plugin.silenceMs, 'number', `seed ${seed}`);
        assert.ok((plugin.silenceMs as number) < plugin.deadlineMs, `seed ${seed}`);
      }
    }
    assert.deepEqual([...kinds].sort(), ['all', 'one']);
  });

  it('makes only options the plugin accepts (a refused combination would end the run at use())', () => {
    for (let seed = 11_000_000; seed < 11_000_500; seed++) {
      for (const { plugin } of planRun(seed, 3).instances) {
        if (plugin !== false) assert.doesNotThrow(() => autoreconnect(plugin), `seed ${seed}`);
      }
    }
  });

  it('gives each consumer of a seed its own stream', () => {
    const a = seededRandom(streamSeed(7, 0));
    const b = seededRandom(streamSeed(7, 1));
    assert.notEqual(a(), b());
    const r = rng(1);
    const seen = new Set(Array.from({ length: 200 }, () => r.weighted({ x: 1, y: 1, z: 0 })));
    assert.deepEqual([...seen].sort(), ['x', 'y']);
  });
});
