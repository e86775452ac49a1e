/**
 * Timelines the bench draws: each worker's operations over time, one row per worker, a bar per
 * operation coloured by its outcome, the fault window shaded; bare Sequelize and the plugin in
 * two panels side by side. Plain SVG text, no dependency.
 */

/** `retried`: with the plugin, succeeded although the fault caught it (the section says when; bare Sequelize never retries). */
export type Outcome = 'ok' | 'retried' | 'error' | 'pending';

/** One bar: `s`..`e` in ms from the start of the round; consecutive operations of one outcome may be merged. */
export interface Segment {
  w: number;
  s: number;
  e: number;
  o: Outcome;
}

export interface Timeline {
  name: string;
  workers: number;
  /** The picture ends here (ms from the start of the round); operations still running are `pending` up to it. */
  endMs: number;
  fault: { fromMs: number; toMs: number; label: string };
  segments: Segment[];
}

/** An operation as a section records it: `end` undefined while it runs. */
export interface TimedOp {
  worker: number;
  start: number;
  end: number | undefined;
  ok: boolean;
}

/**
 * The bars of one round: times relative to `t0` (performance.now()), clipped at `endAt`;
 * consecutive operations of a worker with the same outcome and less than `mergeMs` apart are
 * one bar (the outage runs thousands of reads a second: a bar each would be an unreadable file).
 */
export function timelineOf(
  name: string,
  workers: number,
  ops: readonly TimedOp[],
  t0: number,
  endAt: number,
  fault: Timeline['fault'],
  options: { plugin: boolean; mergeMs: number; retried: (op: TimedOp & { end: number }) => boolean },
): Timeline {
  const sorted = ops.filter((o) => o.start < endAt).sort((a, b) => a.worker - b.worker || a.start - b.start);
  const segments: Segment[] = [];
  for (const op of sorted) {
    const end = op.end === undefined || op.end > endAt ? endAt : op.end;
    const o: Outcome =
      op.end === undefined || op.end > endAt
        ? 'pending'
        : !op.ok
          ? 'error'
          : options.plugin && options.retried({ ...op, end: op.end })
            ? 'retried'
            : 'ok';
    const last = segments[segments.length - 1];
    const s = round(op.start - t0);
    const e = round(end - t0);
    if (last && last.w === op.worker && last.o === o && s - last.e <= options.mergeMs) last.e = e;
    else segments.push({ w: op.worker, s, e, o });
  }
  return { name, workers, endMs: round(endAt - t0), fault, segments };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

const COLOURS: Record<Outcome, string> = { ok: '#43a047', retried: '#1e88e5', error: '#e53935', pending: '#fb8c00' };
const LABELS: Record<Outcome, string> = {
  ok: 'succeeded',
  retried: 'succeeded across the fault (plugin: retried)',
  error: 'failed',
  pending: 'still pending at the end',
};

const WIDTH = 1200;
const ROW = 14;
const PANEL_GAP = 40;
const LEFT = 36;
const TOP = 44;

/** Two (or more) panels side by side on one time scale, a legend under them. */
export function renderTimelines(title: string, panels: readonly Timeline[]): string {
  const workers = Math.max(1, ...panels.map((p) => p.workers));
  const endMs = Math.max(1, ...panels.map((p) => p.endMs));
  const panelWidth = (WIDTH - LEFT - 20 - (panels.length - 1) * (PANEL_GAP + LEFT)) / panels.length;
  const plotHeight = workers * ROW;
  const height = TOP + plotHeight + 34 + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  const step = tickStep(endMs);
  panels.forEach((panel, i) => {
    const x0 = LEFT + i * (panelWidth + PANEL_GAP + LEFT);
    const x = (ms: number): number => x0 + (Math.min(Math.max(ms, 0), endMs) / endMs) * panelWidth;
    out.push(`<text x="${x0}" y="${TOP - 8}" font-weight="bold">${escape(panel.name)}</text>`);
    const fx = x(panel.fault.fromMs);
    const fw = Math.max(1, x(panel.fault.toMs) - fx);
    out.push(
      `<rect x="${n(fx)}" y="${TOP}" width="${n(fw)}" height="${plotHeight}" fill="#9e9e9e" fill-opacity="0.25"/>`,
      `<text x="${n(fx + 3)}" y="${TOP + plotHeight + 30}" fill="#616161" font-size="11">${escape(panel.fault.label)}</text>`,
    );
    for (let w = 0; w < panel.workers; w++) {
      out.push(`<text x="${x0 - 6}" y="${TOP + w * ROW + ROW - 3}" text-anchor="end" font-size="10" fill="#616161">${w + 1}</text>`);
    }
    for (const seg of panel.segments) {
      const sx = x(seg.s);
      const width = Math.max(1, x(seg.e) - sx);
      out.push(
        `<rect x="${n(sx)}" y="${TOP + seg.w * ROW + 1}" width="${n(width)}" height="${ROW - 3}" fill="${COLOURS[seg.o]}"${width > 4 ? ' stroke="#ffffff" stroke-width="1"' : ''}/>`,
      );
    }
    // The window's edges on top of the bars, where a full row of bars hides the shade.
    for (const edge of [fx, fx + fw]) {
      out.push(
        `<line x1="${n(edge)}" y1="${TOP - 2}" x2="${n(edge)}" y2="${TOP + plotHeight}" stroke="#212121" stroke-width="1" stroke-dasharray="4 3"/>`,
      );
    }
    const axisY = TOP + plotHeight + 2;
    out.push(`<line x1="${x0}" y1="${axisY}" x2="${n(x0 + panelWidth)}" y2="${axisY}" stroke="#424242"/>`);
    for (let t = 0; t <= endMs + 1e-6; t += step) {
      const tx = x(t);
      out.push(
        `<line x1="${n(tx)}" y1="${axisY}" x2="${n(tx)}" y2="${axisY + 4}" stroke="#424242"/>`,
        `<text x="${n(tx)}" y="${axisY + 16}" text-anchor="middle" font-size="10">${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s</text>`,
      );
    }
  });
  const legendY = height - 12;
  let lx = LEFT;
  for (const o of ['ok', 'retried', 'error', 'pending'] as const) {
    out.push(
      `<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${COLOURS[o]}"/>`,
      `<text x="${lx + 16}" y="${legendY}">${escape(LABELS[o])}</text>`,
    );
    lx += 24 + LABELS[o].length * 6.6;
  }
  out.push(
    `<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="#9e9e9e" fill-opacity="0.25"/>`,
    `<text x="${lx + 16}" y="${legendY}">fault (dashed edges); a row per worker</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

/** About eight ticks: 0.5, 1, 2 or 5 s apart. */
function tickStep(endMs: number): number {
  for (const step of [500, 1000, 2000, 5000]) if (endMs / step <= 10) return step;
  return 10_000;
}

const n = (x: number): string => x.toFixed(1);

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
