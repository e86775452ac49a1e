/** Section 6's table, goals and pictures in the bench report. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMs } from '../lib/stats';
import { markdownTable } from '../lib/table';
import type { OutageResult } from './outage';
import { spread, type SilentResult } from './silent';
import { renderTimelines } from './timeline';
import type { Goal } from './types';

/** Where the pictures go, relative to the repository (BENCHMARKS.md links them from there). */
export const PICTURES = { outage: 'docs/bench/outage.svg', silent: 'docs/bench/silent-death.svg' } as const;

/**
 * The AWS Advanced NodeJS Wrapper's host monitoring with its defaults (failureDetectionTime
 * 30 s, failureDetectionInterval 5 s, failureDetectionCount 3): a reference, not measured here.
 */
const AWS_ANCHOR_MS = 30_000 + 3 * 5000;

const seconds = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : formatMs(ms));

export function silentGoals(s: SilentResult): Goal[] {
  const out: Goal[] = [];
  for (const v of s.variants.filter((v) => v.plugin && v.watchdog)) {
    const worst = v.recoveredMs.length === 0 ? Number.NaN : Math.max(...v.recoveredMs);
    out.push({
      what: `6. silent death, ${v.dialect}, ${v.name}: reads caught in flight recovered`,
      target: 'all, none stuck',
      measured: `${v.recoveredMs.length} of ${v.caught} (${v.stuck} stuck, ${v.failed} failed)`,
      met: v.caught > 0 && v.recoveredMs.length === v.caught,
    });
    out.push({
      what: `6. silent death, ${v.dialect}, ${v.name}: slowest recovered read after the silence`,
      target: '≤ 5 s',
      measured: seconds(worst),
      met: worst <= 5000,
    });
  }
  return out;
}

export function renderSilent(s: SilentResult): string[] {
  const rows = s.variants.map((v) => {
    const hangs = v.plugin && !v.watchdog;
    const detection = v.plugin && v.watchdog ? spread(v.detectionMs, seconds) : [hangs ? 'no detection (hangs)' : 'none', '—', '—'];
    return [v.dialect, v.name, String(v.caught), ...detection, ...spread(v.recoveredMs, seconds), String(v.failed), String(v.stuck)];
  });
  rows.push([
    'Aurora only',
    'reference: aws-advanced-nodejs-wrapper host monitoring, defaults (not measured)',
    '',
    `~${AWS_ANCHOR_MS / 1000} s (30 s grace + 3 probes 5 s apart)`,
    '',
    '',
    '',
    '',
    '',
    '',
    '',
  ]);
  return [
    '',
    '### 6. Silent death',
    '',
    `${s.workers} workers each reading (a statement held ~200 ms on the server) through the fault proxy; one second in, every open ` +
      'connection goes silent both ways (nothing forwarded, nothing closed), while new connections still reach the healthy server. ' +
      `The plugin runs with \`silenceMs: ${s.silenceMs}\`. Per read in flight at the silence: time to the watchdog's cut (its debug line, ` +
      `timestamped as written) and to the read's result; a read still pending ${seconds(s.boundMs)} after the silence counts as stuck. ` +
      `${s.variants[0]?.rounds ?? 0} rounds per variant.` +
      (s.skipped.length > 0 ? ` Not run: ${s.skipped.join('; ')}.` : ''),
    '',
    markdownTable(
      [
        'dialect',
        'variant',
        'caught in flight',
        'detected p50',
        'p95',
        'max',
        'recovered p50',
        'p95',
        'max',
        'failed',
        `stuck at ${seconds(s.boundMs)}`,
      ],
      rows,
    ),
    ...(s.timelines.length > 0
      ? ['', `![Silent death on PostgreSQL, first round: bare Sequelize and the plugin](${PICTURES.silent})`]
      : []),
  ];
}

export function outagePicture(o: OutageResult): string[] {
  return o.variants.length > 1
    ? ['', `![Outage, first round: bare Sequelize and the plugin with its default backoff](${PICTURES.outage})`]
    : [];
}

/** Draws the first round's timelines of sections 3 and 6 into `dir` (the repository, or bench-results/). */
export function writePictures(dir: string, report: { outage?: OutageResult; silent?: SilentResult }, flat: boolean): string[] {
  const written: string[] = [];
  const write = (path: string, svg: string): void => {
    const target = join(dir, flat ? path.replace(/^docs\/bench\//, '') : path);
    writeFileSync(target, svg);
    written.push(target);
  };
  if (report.outage && report.outage.variants.length > 1) {
    const bare = report.outage.variants.find((v) => v.plugin === false);
    const plugin = report.outage.variants.find((v) => v.plugin !== false);
    const panels = [bare, plugin].flatMap((v) => (v?.rounds[0] ? [v.rounds[0].timeline] : []));
    write(PICTURES.outage, renderTimelines(`Outage: PostgreSQL stopped ${report.outage.stoppedForMs} ms, then started`, panels));
  }
  if (report.silent && report.silent.timelines.length > 0) {
    write(
      PICTURES.silent,
      renderTimelines(
        `Silent death on PostgreSQL: every open connection silent both ways (silenceMs ${report.silent.silenceMs})`,
        report.silent.timelines,
      ),
    );
  }
  return written;
}
