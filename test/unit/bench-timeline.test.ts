import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTimelines, timelineOf, type TimedOp } from '../../scripts/bench/timeline';

const fault = { fromMs: 100, toMs: 300, label: 'server <down> & back' };
// Times as the sections record them (performance.now()): the rounds here start at 1000.
const spans = (o: TimedOp & { end: number }) => o.start < 1300 && o.end > 1100;

describe('bench timelines', () => {
  it('colours each operation by its outcome, and merges a worker’s consecutive ones of one outcome', () => {
    const ops: TimedOp[] = [
      { worker: 0, start: 1000, end: 1040, ok: true },
      { worker: 0, start: 1041, end: 1090, ok: true },
      { worker: 0, start: 1090, end: 1350, ok: true },
      { worker: 1, start: 1000, end: 1150, ok: false },
      { worker: 1, start: 1170, end: undefined, ok: false },
      { worker: 1, start: 1600, end: 1700, ok: true },
    ];
    const timeline = timelineOf('plugin', 2, ops, 1000, 1500, fault, { plugin: true, mergeMs: 2, retried: spans });
    assert.deepEqual(timeline.segments, [
      { w: 0, s: 0, e: 90, o: 'ok' },
      { w: 0, s: 90, e: 350, o: 'retried' },
      { w: 1, s: 0, e: 150, o: 'error' },
      // Still running at the end of the picture: pending up to it; one started after it is left out.
      { w: 1, s: 170, e: 500, o: 'pending' },
    ]);
    assert.equal(timeline.endMs, 500);
  });

  it('never calls bare Sequelize’s operations retried', () => {
    const ops: TimedOp[] = [{ worker: 0, start: 1000, end: 1400, ok: true }];
    const timeline = timelineOf('bare', 1, ops, 1000, 1500, fault, { plugin: false, mergeMs: 0, retried: spans });
    assert.equal(timeline.segments[0]?.o, 'ok');
  });

  it('draws panels side by side with an axis in seconds, a legend and escaped text', () => {
    const ops: TimedOp[] = [{ worker: 0, start: 1000, end: 3500, ok: true }];
    const panel = timelineOf('bare & co', 1, ops, 1000, 4000, fault, { plugin: false, mergeMs: 0, retried: spans });
    const svg = renderTimelines('A <title>', [panel, { ...panel, name: 'plugin' }]);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('A &lt;title&gt;') && svg.includes('bare &amp; co') && svg.includes('server &lt;down&gt; &amp; back'));
    assert.ok(svg.includes('>3.0 s<') || svg.includes('>3 s<'), 'an axis label at the end of the run');
    for (const label of ['succeeded', 'failed', 'still pending at the end']) assert.ok(svg.includes(label), label);
    assert.equal(svg.match(/fill="#43a047" stroke/g)?.length, 2, 'one bar per panel');
  });
});
