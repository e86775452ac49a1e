/**
 * `npm run demo`: the point of the plugin in one command. Starts an embedded PostgreSQL (or,
 * with `--dialect mysql|mariadb`, a private MariaDB), puts
 * an idle-timeout proxy with a little latency in front of it (the HAProxy story; the real
 * HAProxy with --haproxy), runs a small orders service through it twice on the same faults —
 * bare Sequelize, then with the plugin — and prints what each run went through. Then a last
 * scene, a silent death: both side by side when every open connection goes silent both ways.
 */
import { parseArgs } from './lib/args';
import { haproxyVersion } from './lib/haproxy';
import { cleanup, initScratch, wasInterrupted } from './lib/scratch';
import { formatMs, quantile } from './lib/stats';
import { textTable } from './lib/table';
import { FAULT_DESCRIPTIONS, faultSchedule, startInfrastructure, type FaultKind } from './demo/infrastructure';
import { seed } from './demo/orders';
import { runOrdersService, type RunResult } from './demo/run';
import { silentScene } from './demo/silent';
import { DEMO_DIALECTS, startDemoServer, type DemoDialect } from './demo/database';
import type { Sequelize } from 'sequelize';
import type { AutoReconnectOptions } from '../src';
import { recordEventTrail } from './demo/events';

const USAGE = `usage: npm run demo -- [--seconds N] [--haproxy] [--dialect postgres|mysql|mariadb] [--events]

  --seconds N   length of each of the two runs (default 10)
  --haproxy     put the real HAProxy (apt-get install -y haproxy) in front of the database
                instead of the built-in idle-timeout proxy
  --dialect D   postgres (embedded, default), or mysql (mysql2) / mariadb (mariadb connector)
                against a private MariaDB (apt-get install -y mariadb-server)
  --events      after each run, print the plugin's events (its diagnostics_channel stream) in order
`;
/** Lines of events printed per run with --events: the rest are counted. */
const MAX_EVENT_LINES = 60;

const IDLE_TIMEOUT_MS = 1000;
const LATENCY_MS = 2;
const WORKERS = 8;
const POOL_MAX = 5;
const SEED = 42;
/** As README's usage example: a few retries, the default backoff and write safety. */
const PLUGIN_OPTIONS: AutoReconnectOptions = { retries: 3 };

async function main(): Promise<void> {
  const args = parseArgs(
    process.argv.slice(2),
    { flags: ['haproxy', 'events'], numbers: ['seconds'], choices: { dialect: DEMO_DIALECTS } },
    USAGE,
  );
  const dialect = args.choice<DemoDialect>('dialect', 'postgres');
  const durationMs = Math.round(args.number('seconds', 10) * 1000);
  const showEvents = args.flag('events');
  let useHaproxy = args.flag('haproxy');
  if (useHaproxy && !haproxyVersion()) {
    process.stderr.write('haproxy is not installed (apt-get install -y haproxy): using the built-in idle-timeout proxy instead\n');
    useHaproxy = false;
  }
  initScratch('sar-demo');
  const out = process.stdout;

  out.write('\nsequelize-autoreconnect demo: an orders service whose connections a proxy drops\n\n');
  process.stderr.write(`starting ${dialect === 'postgres' ? 'PostgreSQL (embedded)' : 'MariaDB'}…\n`);
  const server = await startDemoServer(dialect);
  const target = server.target;
  const infrastructure = await startInfrastructure({ target, idleTimeoutMs: IDLE_TIMEOUT_MS, latencyMs: LATENCY_MS, haproxy: useHaproxy });

  const schedule = faultSchedule(durationMs, SEED);
  const kinds = [...new Set(schedule.map((f) => f.kind))];
  out.write(`  database      ${server.description}, behind ${infrastructure.describe()}\n`);
  out.write(`  workload      ${WORKERS} workers, pool of ${POOL_MAX}: browse, order history, place order (transaction),\n`);
  out.write(`                ship order (idempotent UPDATE), record event (INSERT); 5-25 ms think time, some pauses\n`);
  out.write(`  faults        idle closes, plus ${plural(schedule.length, 'failover')} at the same moments in both runs:\n`);
  for (const kind of kinds) out.write(`                - ${FAULT_DESCRIPTIONS[kind]}\n`);
  out.write(`  plugin        autoreconnect(${JSON.stringify(PLUGIN_OPTIONS)})\n\n`);

  const results: RunResult[] = [];
  for (const [label, plugin] of [
    ['bare Sequelize', false],
    ['with the plugin', PLUGIN_OPTIONS],
  ] as const) {
    const database = await server.database();
    const seeder = await database.sequelize(target, false, { max: 2 });
    await seed(seeder.sequelize);
    await seeder.sequelize.close();
    results.push(
      await runOrdersService({
        label,
        database,
        infrastructure,
        plugin,
        durationMs,
        workers: WORKERS,
        poolMax: POOL_MAX,
        schedule,
        seed: SEED,
        watch: showEvents && plugin !== false ? (sequelize) => watchEvents(sequelize, label) : undefined,
      }),
    );
    if (wasInterrupted()) return;
  }

  out.write(`\n${report(results)}\n`);
  process.stderr.write('\nlast scene: a silent death…\n');
  const scene = await silentScene(server, dialect, PLUGIN_OPTIONS);
  out.write(`\n${scene.lines.join('\n')}\n`);
  await cleanup();
}

function report(results: readonly RunResult[]): string {
  const cell = (f: (r: RunResult) => string): string[] => results.map(f);
  const n = (v: number | undefined): string => (v === undefined ? '—' : v.toLocaleString('en-US'));
  const pct = (part: number, whole: number): string => (whole === 0 ? '' : ` (${((100 * part) / whole).toFixed(1)}%)`);
  const rows: string[][] = [
    ['', ...results.map((r) => r.label)],
    ['operations', ...cell((r) => n(r.operations))],
    ['failed', ...cell((r) => n(r.failedReads + r.failedWrites) + pct(r.failedReads + r.failedWrites, r.operations))],
    ['  reads', ...cell((r) => n(r.failedReads))],
    ['  writes', ...cell((r) => n(r.failedWrites))],
    ['  writes reported failed that had committed', ...cell((r) => n(r.failedButCommitted))],
    ['retried by the plugin', ...cell((r) => n(r.retried))],
    ['transactions re-run by the app', ...cell((r) => n(r.appTransactionRetries))],
    ['reconnects', ...cell((r) => n(r.reconnects))],
    ['Sequelize "transaction failed" warnings', ...cell((r) => n(r.transactionWarnings))],
    ['connections opened', ...cell((r) => n(r.connectionsOpened))],
    ['duplicated writes', ...cell((r) => n(r.duplicatedWrites))],
    ['lost writes (reported ok, not there)', ...cell((r) => n(r.lostWrites))],
    ['operations still hung at the end', ...cell((r) => n(r.hung.length))],
    ['p50 latency', ...cell((r) => formatMs(quantile(r.latenciesMs, 0.5)))],
    ['p99 latency', ...cell((r) => formatMs(quantile(r.latenciesMs, 0.99)))],
  ];
  const lines = [
    textTable(rows),
    // One line: what the two rows a reader stops at mean.
    '  re-run by the app: whole transactions run again after ConnectionLostError (transactionLost); p99 can be higher with the plugin: operations that fail at once without it wait for a new connection and succeed.',
  ];
  const idle = results.map((r) => r.idleClosed).filter((v): v is number => v !== undefined);
  const faults = (kinds: readonly FaultKind[]): string => plural(kinds.length, 'failover');
  lines.push(
    '',
    `  faults: ${results.map((r) => `${r.label}: ${faults(r.faultsApplied)}${r.idleClosed === undefined ? '' : `, ${plural(r.idleClosed, 'idle close')}`}`).join('; ')}`,
  );
  if (idle.length === 0) lines.push('  (HAProxy does not report its idle closes)');
  for (const r of results) {
    const top = [...r.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
    if (top.length === 0) continue;
    lines.push('', `  errors the application saw, ${r.label}:`);
    for (const [message, count] of top) lines.push(`    ${String(count).padStart(4)} × ${message}`);
  }
  const plugin = results.find((r) => r.retried !== undefined);
  if (plugin && plugin.failedWrites > 0) {
    const which =
      plugin.flaggedMayHaveExecuted === plugin.failedWrites
        ? `all ${plugin.failedWrites} failed writes came`
        : `${plugin.flaggedMayHaveExecuted} of the ${plugin.failedWrites} failed writes came`;
    lines.push(
      '',
      `  With the plugin, ${which} as ConnectionLostError with mayHaveExecuted: true`,
      '  (any other failed write certainly did not run): the application knows which to check.',
    );
  }
  lines.push(
    '',
    '  The plugin retries reads, idempotent writes and transactions that had not started on a new',
    '  connection. A plain INSERT whose connection died after it was sent may have committed, so it',
    '  is reported (ConnectionLostError, mayHaveExecuted: true) instead of being run twice.',
    "  Side by side with Sequelize's own retry option, and the costs: npm run bench.",
  );
  return lines.join('\n');
}

/** Prints the run's events once it is over (progress lines own the terminal while it runs). */
function watchEvents(sequelize: Sequelize, label: string): () => void {
  const trail = recordEventTrail(sequelize, label);
  return () => {
    trail.stop();
    const lines = trail.lines(MAX_EVENT_LINES);
    process.stdout.write(`\n  events, ${label} (time since the run started, instance, event, what it says, dialect and host):\n`);
    process.stdout.write(lines.length === 0 ? '    none\n' : `${lines.join('\n')}\n`);
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

main().then(
  // After Ctrl-C the signal handler finishes the cleanup and exits with 130.
  () => wasInterrupted() || process.exit(0),
  async (error: unknown) => {
    // After Ctrl-C, whatever was running fails as the server goes away: not worth a stack trace.
    if (wasInterrupted()) return;
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanup();
    process.exit(1);
  },
);
