import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Sequelize, type Options } from 'sequelize';
import { autoreconnect, type AutoReconnectOptions } from '../../src';

/** The superuser URL of the server under test: test/run.ts starts one, or DATABASE_URL names one. */
export function adminUrl(): string {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is not set: run the suite with `npm test` (test/run.ts starts PostgreSQL)');
  return url;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function withHostPort(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

export async function admin<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  // A server stopped while this client is open would otherwise crash the run; its query fails anyway.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for one test file, so files can run side by side. */
export async function createDatabase(serverUrl = adminUrl()): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `sar_${randomBytes(5).toString('hex')}`;
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: withDatabase(serverUrl, name),
    drop: () => admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/**
 * A database with a `notes` table and a role whose sessions there are read only by the
 * application's own setting (`default_transaction_read_only` on the role or the database):
 * `url` logs in as that role; `drop()` removes both.
 */
export async function readOnlySessions(level: 'ROLE' | 'DATABASE'): Promise<{ url: string; drop(): Promise<void> }> {
  const db = await createDatabase();
  const role = `readonly_${randomBytes(4).toString('hex')}`;
  await admin(db.url, async (c) => {
    await c.query('CREATE TABLE notes (id serial PRIMARY KEY, body text)');
    await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'read-only-role-1'`);
    await c.query(`GRANT ALL ON TABLE notes TO ${role}`);
    await c.query(`ALTER ${level} ${level === 'ROLE' ? role : db.name} SET default_transaction_read_only = on`);
  });
  const url = new URL(db.url);
  url.username = role;
  url.password = 'read-only-role-1';
  return {
    url: url.toString(),
    drop: async () => {
      await db.drop();
      await admin(adminUrl(), (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    },
  };
}

export function uniqueAppName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export interface TestSequelizeOptions extends Options {
  /** Plugin options, or false for bare Sequelize. */
  plugin?: AutoReconnectOptions | false;
  appName: string;
  /** The plugin's factory, when not this repository's source (the benches install the built package). */
  factory?: typeof autoreconnect;
}

/** A Sequelize instance on `url`, its connections tagged with `appName` so tests can kill exactly them. */
export function testSequelize(url: string, { plugin = {}, appName, factory = autoreconnect, ...options }: TestSequelizeOptions): Sequelize {
  const sequelize = new Sequelize(url, {
    dialect: 'postgres',
    logging: false,
    ...options,
    pool: { max: 5, acquire: 10_000, ...options.pool },
    dialectOptions: { application_name: appName, ...options.dialectOptions },
  });
  if (plugin !== false) sequelize.use(factory(plugin));
  else guardBareClients(sequelize);
  return sequelize;
}

/**
 * Bare Sequelize listens for a new client's `'error'` only once connecting resolved: a FATAL in
 * the same packet as the end of the startup (a server shutting down just then) is an unhandled
 * event, a crash of the whole process. The plugin guards its instances' clients; a bare instance
 * kept for comparison gets the same listener, or it could take the test run down with it.
 */
function guardBareClients(sequelize: Sequelize): void {
  const cm = (sequelize as unknown as { connectionManager: { lib: { Client: typeof Client } } }).connectionManager;
  const Base = cm.lib.Client;
  cm.lib = Object.create(cm.lib, {
    Client: {
      value: class extends Base {
        constructor(...args: ConstructorParameters<typeof Client>) {
          super(...args);
          this.on('error', () => {});
        }
      },
    },
  }) as typeof cm.lib;
}

/**
 * pg_terminate_backend for every session of `appName`; returns how many were killed. Resolves
 * once they have exited (PostgreSQL 14+ waits for that), so nothing they held lives on.
 */
export async function terminateBackends(serverUrl: string, appName: string): Promise<number> {
  return admin(serverUrl, async (c) => {
    const { rows } = await c.query<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid, 10000) AS killed FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [appName],
    );
    return rows.filter((r) => r.killed).length;
  });
}

export async function backendCount(serverUrl: string, appName: string): Promise<number> {
  return admin(serverUrl, async (c) => {
    const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName]);
    return rows[0]!.n;
  });
}

interface PoolLike {
  size: number;
  available: number;
  using: number;
  waiting: number;
}

export function poolState(sequelize: Sequelize): PoolLike {
  const pool = (sequelize as unknown as { connectionManager: { pool: PoolLike } }).connectionManager.pool;
  return { size: pool.size, available: pool.available, using: pool.using, waiting: pool.waiting };
}

/**
 * No connection borrowed and not returned, none counted twice: every connection the pool
 * counts is idle in it. Destroys finish asynchronously, so allow them a moment; `settleMs`: more,
 * for a connection still being opened for a caller that was served meanwhile (bounded by the
 * connect timeout).
 */
export async function assertPoolIntact(sequelize: Sequelize, settleMs = 1000): Promise<void> {
  let state = poolState(sequelize);
  for (
    const until = Date.now() + settleMs;
    Date.now() < until && (state.using !== 0 || state.size !== state.available || state.waiting !== 0);
  ) {
    await new Promise((r) => setTimeout(r, 20));
    state = poolState(sequelize);
  }
  assert.deepEqual(
    { using: state.using, waiting: state.waiting, idleIsAll: state.size === state.available },
    { using: 0, waiting: 0, idleIsAll: true },
    `pool not intact: ${JSON.stringify(state)}`,
  );
  const max = (sequelize as unknown as { connectionManager: { config: { pool: { max: number } } } }).connectionManager.config.pool.max;
  assert.ok(state.size <= max, `pool holds ${state.size} connections, more than max ${max}`);
}

/** Runs `fn`, counting the silence watchdog's questions to PostgreSQL (its `pg_stat_activity` query) meanwhile. */
export async function countingSilenceChecks<T>(fn: () => Promise<T>): Promise<{ value: T; checks: number }> {
  const query = Client.prototype.query;
  let checks = 0;
  Client.prototype.query = function (this: Client, ...args: unknown[]) {
    if (typeof args[0] === 'string' && args[0].includes('pg_stat_activity AS a')) checks++;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return { value: await fn(), checks };
  } finally {
    Client.prototype.query = query;
  }
}
