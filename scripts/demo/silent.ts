/**
 * The demo's last scene: a silent death. Bare Sequelize and the plugin side by side, each with
 * workers reading through a proxy of its own; at the same moment every open connection of both
 * goes silent both ways (nothing forwarded, nothing closed: a failover or partition that
 * black-holes established flows), while new connections still reach the healthy server. A
 * display-only watchdog counts the operations older than a few seconds, every second.
 */
import { QueryTypes, type Sequelize } from 'sequelize';
import type { AutoReconnectOptions } from '../../src';
import { dialectFor } from '../../src/dialects';
import { FaultProxy } from '../../test/support/fault-proxy';
import { onCleanup } from '../lib/scratch';
import { textTable } from '../lib/table';
import type { DemoDatabase, DemoDialect, DemoServer } from './database';

/** An operation older than this counts as stuck on the display (nothing in the plugin uses it). */
export const STUCK_AFTER_MS = 5000;
const SILENCE_MS = 2000;
const SILENT_AT_MS = 1000;
const SCENE_MS = 10_000;
const WORKERS = 8;

interface Side {
  label: string;
  sequelize: Sequelize;
  proxy: FaultProxy;
  /** Start times of the operations in flight. */
  inFlight: Set<{ start: number }>;
  done: number;
  failed: number;
  removeCleanup(): void;
}

export interface SilentScene {
  /** The lines to print: what happened, second by second, and the verdict. */
  lines: string[];
}

export async function silentScene(server: DemoServer, dialect: DemoDialect, pluginOptions: AutoReconnectOptions): Promise<SilentScene> {
  const watchdog = dialectFor(dialect).silence !== undefined;
  const plugin: AutoReconnectOptions = watchdog ? { ...pluginOptions, silenceMs: SILENCE_MS } : pluginOptions;
  const readSql = dialect === 'postgres' ? 'SELECT pg_sleep(0.2) AS slept' : 'SELECT SLEEP(0.2) AS slept';
  const database = await server.database();
  const sides = [
    await side('bare Sequelize', database, server, false),
    await side(
      watchdog ? `plugin, silenceMs ${SILENCE_MS}` : 'plugin (no silence watchdog for this dialect yet)',
      database,
      server,
      plugin,
    ),
  ];
  let running = true;
  const workers = sides.flatMap((s) =>
    Array.from({ length: WORKERS }, async () => {
      while (running) {
        const op = { start: performance.now() };
        s.inFlight.add(op);
        try {
          await s.sequelize.query(readSql, { type: QueryTypes.SELECT });
          s.done++;
        } catch {
          s.failed++;
          await new Promise((r) => setTimeout(r, 20));
        } finally {
          s.inFlight.delete(op);
        }
      }
    }),
  );
  const started = performance.now();
  const rows: string[][] = [['', ...sides.map((s) => s.label)]];
  const maxStuck = sides.map(() => 0);
  const stuckAtEnd = sides.map(() => 0);
  const failedInScene = sides.map(() => 0);
  try {
    for (let second = 1; second * 1000 <= SCENE_MS; second++) {
      await new Promise((r) => setTimeout(r, started + second * 1000 - performance.now()));
      if (second * 1000 === SILENT_AT_MS) for (const s of sides) s.proxy.muteAll();
      const now = performance.now();
      const cells = sides.map((s, i) => {
        const stuck = [...s.inFlight].filter((op) => now - op.start > STUCK_AFTER_MS).length;
        maxStuck[i] = Math.max(maxStuck[i]!, stuck);
        stuckAtEnd[i] = stuck;
        failedInScene[i] = s.failed;
        return `${stuck} stuck, ${s.done} reads done`;
      });
      rows.push([`${second} s${second * 1000 === SILENT_AT_MS ? ' (silence)' : ''}`, ...cells]);
    }
  } finally {
    running = false;
    // What still hangs on a dead path fails once it is closed, as the kernel would end it (much later).
    for (const s of sides) s.proxy.closeStranded();
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 10_000).unref())]);
  }
  const lines = [
    `  silent death: at ${SILENT_AT_MS / 1000} s every open connection goes silent both ways (no FIN, no RST: a black-holed path);`,
    `  new connections still reach the server. ${WORKERS} workers each, reading (a statement held 200 ms on the server).`,
    `  Stuck: operations older than ${STUCK_AFTER_MS / 1000} s, counted by the demo itself.`,
    '',
    textTable(rows),
    '',
    ...sides.map(
      (s, i) =>
        `  ${s.label}: at most ${maxStuck[i]} stuck, ${stuckAtEnd[i]} still stuck when the scene ended; ${failedInScene[i]} reads failed`,
    ),
  ];
  if (!watchdog) lines.push(`  (the silence watchdog is not there for ${dialect} yet: the plugin hangs like bare Sequelize)`);
  else
    lines.push(
      '  Bare Sequelize waits for an answer that never comes (until the kernel gives up, minutes to hours later). The plugin,',
      `  after ${SILENCE_MS / 1000} s of silence, asked the server on a separate connection whether each statement was still running,`,
      '  cut the connections whose answers were lost and ran the reads again on new ones.',
    );
  await Promise.all(sides.map((s) => Promise.race([s.sequelize.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())])));
  await Promise.all(sides.map((s) => s.proxy.close()));
  for (const s of sides) s.removeCleanup();
  return { lines };
}

async function side(label: string, database: DemoDatabase, server: DemoServer, plugin: AutoReconnectOptions | false): Promise<Side> {
  const proxy = await FaultProxy.start({ target: server.target });
  const removeProxy = onCleanup(() => proxy.close());
  const { sequelize } = await database.sequelize(proxy, plugin, { max: WORKERS, min: 0, acquire: 20_000 });
  const removeSequelize = onCleanup(() => sequelize.close());
  const removeCleanup = (): void => {
    removeSequelize();
    removeProxy();
  };
  return { label, sequelize, proxy, inFlight: new Set(), done: 0, failed: 0, removeCleanup };
}
