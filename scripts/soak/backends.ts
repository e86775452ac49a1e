/**
 * What the soak needs of a database, for PostgreSQL (pg) and for MySQL/MariaDB (Sequelize's
 * `mysql` dialect on mysql2, `mariadb` on the mariadb connector, both against MariaDB).
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { Sequelize, type Options } from 'sequelize';
import { autoreconnect, type AutoReconnectOptions } from '../../src';
import { admin, backendCount, terminateBackends, testSequelize, withDatabase, withHostPort } from '../../test/support/db';
import { findBinary } from '../../test/support/binaries';
import { MariaDbServer } from '../../test/support/mariadb';
import { myAdmin } from '../../test/support/mysql';
import { TestServer } from '../../test/support/postgres';

export type SoakDialect = 'postgres' | 'mysql' | 'mariadb';

export interface Endpoint {
  host: string;
  port: number;
}

export interface SoakBackend {
  /** The server the middle boxes forward to. */
  readonly target: Endpoint;
  /** An idempotent upsert of ($1 key, $2 value) into kv, and the read of a key. */
  readonly upsertSql: string;
  readonly readSql: string;
  /** Text in the client's INSERT into items, for the proxy's faults. */
  readonly insertMatch: string;
  /** The first bytes of a statement on the wire, for a proxy that forgets the connection. */
  readonly statementStart: RegExp;
  /** A Sequelize instance whose sessions the backend can tell apart by `name`, through `via`. */
  sequelize(
    name: string,
    via: Endpoint,
    pool: Options['pool'],
    plugin: AutoReconnectOptions | false,
    retry?: Options['retry'],
  ): Promise<Sequelize>;
  terminateOne(names: readonly string[]): Promise<void>;
  terminateAll(name: string): Promise<void>;
  sessions(name: string): Promise<number>;
  tagCounts(prefix: string): Promise<Map<string, number>>;
  finals(prefix: string): Promise<Map<string, number>>;
}

type Cleanup = Array<() => Promise<unknown>>;

export async function startBackend(dialect: SoakDialect, cleanup: Cleanup, onServerStarted: () => void): Promise<SoakBackend> {
  return dialect === 'postgres' ? postgres(cleanup, onServerStarted) : mysqlFamily(dialect, cleanup);
}

async function postgres(cleanup: Cleanup, onServerStarted: () => void): Promise<SoakBackend> {
  let serverUrl = process.env['DATABASE_URL'];
  if (!serverUrl) {
    const server = await TestServer.start();
    cleanup.unshift(() => server.destroy());
    onServerStarted();
    serverUrl = server.url;
  }
  const url = serverUrl;
  const database = `soak_${randomBytes(4).toString('hex')}`;
  await admin(url, (c) => c.query(`CREATE DATABASE ${database}`));
  cleanup.unshift(() => admin(url, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)));
  const databaseUrl = withDatabase(url, database);
  // No unique constraint on tag: a duplicated INSERT must be countable.
  await admin(databaseUrl, async (c) => {
    await c.query('CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL, "createdAt" timestamptz, "updatedAt" timestamptz)');
    await c.query('CREATE INDEX ON items (tag)');
    await c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)');
  });
  const server = new URL(url);
  return {
    target: { host: server.hostname, port: Number(server.port) },
    upsertSql: 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v',
    readSql: 'SELECT v FROM kv WHERE k = $1',
    insertMatch: 'INSERT INTO "items"',
    // Q: simple query, P: extended protocol.
    statementStart: /^[QP]/,
    sequelize: (name, via, pool, plugin, retry) =>
      Promise.resolve(
        testSequelize(withHostPort(databaseUrl, via.host, via.port), { appName: name, pool, plugin, ...(retry ? { retry } : {}) }),
      ),
    terminateOne: async (names) => {
      await admin(url, (c) =>
        c.query(
          `SELECT pg_terminate_backend(pid) FROM (
             SELECT DISTINCT ON (application_name) pid FROM pg_stat_activity WHERE application_name = ANY($1) ORDER BY application_name, random()
           ) AS one_each`,
          [names],
        ),
      );
    },
    terminateAll: async (name) => {
      await terminateBackends(url, name);
    },
    sessions: (name) => backendCount(url, name),
    tagCounts: (prefix) =>
      admin(databaseUrl, async (c) => {
        const { rows } = await c.query<{ tag: string; n: number }>(
          'SELECT tag, count(*)::int AS n FROM items WHERE tag LIKE $1 GROUP BY tag',
          [`${prefix}%`],
        );
        return new Map(rows.map((r) => [r.tag, r.n]));
      }),
    finals: (prefix) =>
      admin(databaseUrl, async (c) => {
        const { rows } = await c.query<{ k: string; v: number }>('SELECT k, v FROM kv WHERE k LIKE $1', [`${prefix}%`]);
        return new Map(rows.map((r) => [r.k, r.v]));
      }),
  };
}

async function mysqlFamily(dialect: 'mysql' | 'mariadb', cleanup: Cleanup): Promise<SoakBackend> {
  let serverUrl = process.env['MARIADB_URL'] ?? process.env['MYSQL_URL'];
  if (!serverUrl) {
    if (!findBinary('mariadbd'))
      throw new Error('mariadb-server is not installed (apt-get install -y mariadb-server) and MARIADB_URL is not set');
    const server = await MariaDbServer.start();
    cleanup.unshift(() => server.destroy());
    serverUrl = server.url;
  }
  const url = serverUrl;
  const run = <T>(fn: (c: import('mysql2/promise').Connection) => Promise<T>) => myAdmin(url, fn);
  const database = `soak_${randomBytes(4).toString('hex')}`;
  const users: string[] = [];
  await run(async (c) => {
    await c.query(`CREATE DATABASE ${database}`);
    await c.query(
      `CREATE TABLE ${database}.items (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(64) NOT NULL, createdAt DATETIME, updatedAt DATETIME, INDEX (tag)) ENGINE=InnoDB`,
    );
    await c.query(`CREATE TABLE ${database}.kv (k VARCHAR(64) PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`);
  });
  cleanup.unshift(() =>
    run(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${database}`);
      for (const user of users) await c.query(`DROP USER IF EXISTS '${user}'@'%'`);
    }),
  );
  /** Sessions are told apart by user: one per instance. */
  const ids = (user: string) =>
    run(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [user]);
      return rows.map((r) => Number(r['id']));
    });
  const kill = (list: number[]) =>
    run(async (c) => {
      for (const id of list) await c.query(`KILL ${id}`).catch(() => {});
    });
  const server = new URL(url);
  return {
    target: { host: server.hostname, port: Number(server.port) },
    upsertSql: 'INSERT INTO kv (k, v) VALUES ($1, $2) ON DUPLICATE KEY UPDATE v = VALUES(v)',
    readSql: 'SELECT v FROM kv WHERE k = $1',
    insertMatch: 'INSERT INTO `items`',
    // A packet header, then COM_QUERY (3), COM_STMT_PREPARE (0x16) or COM_STMT_EXECUTE (0x17).
    // eslint-disable-next-line no-control-regex -- command bytes of a binary protocol
    statementStart: new RegExp('^[\\s\\S]{4}[\\u0003\\u0016\\u0017]'),
    sequelize: async (name, via, pool, plugin, retry) => {
      const password = randomBytes(8).toString('hex');
      users.push(name);
      await run(async (c) => {
        await c.query(`CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'`);
        await c.query(`GRANT ALL ON ${database}.* TO '${name}'@'%'`);
      });
      const sequelize = new Sequelize(`${dialect}://${name}:${password}@${via.host}:${via.port}/${database}`, {
        logging: false,
        pool,
        ...(retry ? { retry } : {}),
      });
      if (plugin !== false) sequelize.use(autoreconnect(plugin));
      return sequelize;
    },
    terminateOne: async (names) => {
      const picks = await Promise.all(names.map(async (n) => (await ids(n)).sort(() => Math.random() - 0.5).slice(0, 1)));
      await kill(picks.flat());
    },
    terminateAll: async (name) => kill(await ids(name)),
    sessions: async (name) => (await ids(name)).length,
    tagCounts: (prefix) =>
      run(async (c) => {
        const [rows] = await c.query<RowDataPacket[]>(`SELECT tag, count(*) AS n FROM ${database}.items WHERE tag LIKE ? GROUP BY tag`, [
          `${prefix}%`,
        ]);
        return new Map(rows.map((r) => [String(r['tag']), Number(r['n'])]));
      }),
    finals: (prefix) =>
      run(async (c) => {
        const [rows] = await c.query<RowDataPacket[]>(`SELECT k, v FROM ${database}.kv WHERE k LIKE ?`, [`${prefix}%`]);
        return new Map(rows.map((r) => [String(r['k']), Number(r['v'])]));
      }),
  };
}
