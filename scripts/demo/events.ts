/**
 * `npm run demo -- --events`: the plugin's diagnostics_channel events of one run, one line each,
 * in order: what an APM agent or a log subscriber would see (docs/guide.md, "Observability").
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Sequelize } from 'sequelize';
import { channels, type ReconnectEvents } from '../../src';

type Key = keyof ReconnectEvents;

const LOST_WHERE = {
  connect: 'opening a connection',
  query: 'under a statement',
  transaction: 'under a statement in a transaction',
  commit: 'under a COMMIT',
} as const;

/** What each event says, in a few words (the common fields, instance and host, are on every line). */
const DESCRIBE: { [K in Key]: (e: ReconnectEvents[K]) => string } = {
  connectionLost: (e) => `${LOST_WHERE[e.phase]}: ${e.failure}${e.code ? ` (${e.code})` : ''}`,
  retry: (e) => `retry ${e.attempt} of a ${e.operation} (${e.phase}), after ${e.delayMs} ms of backoff`,
  reconnect: (e) => `attempt ${e.attempt}: ${e.ok ? 'new connection' : `failed (${e.failure ?? '?'})`} in ${e.durationMs} ms`,
  recovered: (e) => `succeeded after ${e.attempts} attempts, ${e.elapsedMs} ms after its first failure`,
  giveUp: (e) =>
    `${e.reason} after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}, mayHaveExecuted ${e.mayHaveExecuted}` +
    (e.committed === undefined ? '' : `, committed ${e.committed}`),
  validationFailed: (e) => `an idle connection (${e.idleMs} ms) was dead: replaced before use`,
  sweep: (e) => `${e.pool} pool: older idle connections are now suspect (${e.reason})`,
  retired: (e) => `closed a healthy connection (${e.reason}, ${e.ageMs} ms old)`,
  settled: (e) => `${e.kind}: ${e.committed === undefined ? 'outcome unknown' : e.committed ? 'committed' : 'not committed'}`,
  transactionReplayed: (e) => `running the transaction again (replay ${e.attempt})`,
  silenceDetected: (e) => `silent for ${e.silentMs} ms, cut ${e.detectionMs} ms after the silence began: ${e.verdict}`,
};

const NAME_WIDTH = Math.max(...Object.values(channels).map((n) => n.length - 'sequelize-autoreconnect:'.length));

export interface EventTrail {
  /** The lines, in order; `max` at most, then how many more. */
  lines(max: number): string[];
  stop(): void;
}

/** Records `sequelize`'s events from now on, each stamped with its offset from now and `label`. */
export function recordEventTrail(sequelize: Sequelize, label: string): EventTrail {
  const startedAt = performance.now();
  const lines: string[] = [];
  const handlers = (Object.keys(channels) as Key[]).map((key) => {
    const describe = DESCRIBE[key] as (e: ReconnectEvents[Key]) => string;
    const handler = (message: unknown) => {
      const event = message as ReconnectEvents[Key];
      if (event.sequelize !== sequelize) return;
      const at = `+${((performance.now() - startedAt) / 1000).toFixed(3)}s`;
      const name = channels[key].slice('sequelize-autoreconnect:'.length);
      lines.push(`  ${at.padStart(9)}  [${label}]  ${name.padEnd(NAME_WIDTH)}  ${describe(event)}  (${event.dialect} ${event.host})`);
    };
    subscribe(channels[key], handler);
    return { key, handler };
  });
  return {
    lines: (max) => (lines.length <= max ? [...lines] : [...lines.slice(0, max), `  … and ${lines.length - max} more events`]),
    stop: () => {
      for (const { key, handler } of handlers) unsubscribe(channels[key], handler);
    },
  };
}
