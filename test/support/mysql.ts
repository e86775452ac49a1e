import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { Sequelize, type Options } from 'sequelize';
import { autoreconnect, type AutoReconnectOptions } from '../../src';
import { FaultProxy } from './fault-proxy';
import { outcome } from './fixture';
import { mariadbUrl } from './mariadb';
import { useInSuite } from './suite';

/** Sequelize's two dialects for MySQL and MariaDB: mysql2, and the mariadb connector. */
export const FAMILY = ['mysql', 'mariadb'] as const;
export type Family = (typeof FAMILY)[number];

export async function myAdmin<T>(url: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await createConnection(url);
  // A server stopped while this client is open would otherwise crash the run; its query fails anyway.
  c.on('error', () => {});
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => c.destroy());
  }
}

export interface MyApp {
  readonly sequelize: Sequelize;
  /** The MySQL user the instance logs in as: its sessions are told apart by it. */
  readonly user: string;
  readonly password: string;
}

export interface MyFixture {
  readonly database: string;
  readonly proxy: FaultProxy;
  /** A user of its own (all rights on the test database), so a test can kill exactly its sessions. */
  app(dialect: Family, options?: MyAppOptions): Promise<MyApp>;
  /** KILL [QUERY] every session of `user`; resolves to how many. */
  kill(user: string, what?: 'CONNECTION' | 'QUERY'): Promise<number>;
  /** Sessions of `user` (running a statement that contains `running`, when given). */
  sessions(user: string, running?: string): Promise<number>;
  count(tag: string): Promise<number>;
  admin<T>(fn: (c: Connection) => Promise<T>): Promise<T>;
  gate(): Promise<MyGate>;
  /** The server's admin URL. */
  readonly url: string;
  close(): Promise<void>;
}

export interface MyAppOptions extends Options {
  plugin?: AutoReconnectOptions | false;
  /** Through the fault proxy (default) or straight to the server. */
  proxied?: boolean;
  /** Through this middle box instead (HAProxy, a relay). */
  via?: { host: string; port: number };
}

/** Holds statements on the server (a named lock the test holds) until the test opens it. */
export interface MyGate {
  readonly sql: string;
  held(user: string, count?: number): Promise<void>;
  open(): Promise<void>;
}

/** A MySQL-family fixture for the enclosing describe(), made in its before() and closed in its after(). */
export function useMyFixture(): MyFixture {
  return useInSuite(() => myFixture());
}

/** A database of its own with an `items` table on the suite's server (or `serverUrl`), a fault proxy in front. */
export async function myFixture(serverUrl = mariadbUrl()): Promise<MyFixture> {
  const server = new URL(serverUrl);
  const database = `sar_${randomBytes(5).toString('hex')}`;
  const adminOn = <T>(fn: (c: Connection) => Promise<T>) => myAdmin(server.toString(), fn);
  await adminOn(async (c) => {
    await c.query(`CREATE DATABASE ${database}`);
    await c.query(
      `CREATE TABLE ${database}.items (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(64) NOT NULL, createdAt DATETIME, updatedAt DATETIME) ENGINE=InnoDB`,
    );
  });
  const proxy = await FaultProxy.start({ target: { host: server.hostname, port: Number(server.port) } });
  const users: string[] = [];
  const apps: Sequelize[] = [];
  const sessionIds = async (user: string, running = '') =>
    adminOn(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        running
          ? "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = 'Query' AND INFO LIKE ?"
          : 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?',
        running ? [user, `%${running}%`] : [user],
      );
      return rows.map((r) => Number(r['id']));
    });
  return {
    database,
    proxy,
    admin: adminOn,
    app: async (dialect, { plugin = {}, proxied = true, via, ...options } = {}) => {
      const user = `u${randomBytes(5).toString('hex')}`;
      const password = randomBytes(8).toString('hex');
      users.push(user);
      await adminOn(async (c) => {
        await c.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
        await c.query(`GRANT ALL ON ${database}.* TO '${user}'@'%'`);
      });
      const host = via ? `${via.host}:${via.port}` : proxied ? `${proxy.host}:${proxy.port}` : `${server.hostname}:${server.port}`;
      const sequelize = new Sequelize(`${dialect}://${user}:${password}@${host}/${database}`, {
        logging: false,
        ...options,
        pool: { max: 5, acquire: 10_000, ...options.pool },
      });
      if (plugin !== false) sequelize.use(autoreconnect(plugin));
      apps.push(sequelize);
      return { sequelize, user, password };
    },
    kill: async (user, what = 'CONNECTION') => {
      const ids = await sessionIds(user);
      await adminOn(async (c) => {
        for (const id of ids) await c.query(`KILL ${what} ${id}`).catch(() => {});
      });
      return ids.length;
    },
    sessions: async (user, running) => (await sessionIds(user, running)).length,
    count: (tag) =>
      adminOn(async (c) => {
        const [rows] = await c.query<RowDataPacket[]>(`SELECT count(*) AS n FROM ${database}.items WHERE tag = ?`, [tag]);
        return Number(rows[0]!['n']);
      }),
    gate: () => myGate(server.toString()),
    url: server.toString(),
    close: async () => {
      await Promise.all(apps.map((s) => s.close().catch(() => {})));
      await proxy.close();
      await adminOn(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${database}`);
        for (const user of users) await c.query(`DROP USER IF EXISTS '${user}'@'%'`);
      });
    },
  };
}

/**
 * A gate on a named lock that a client of the test holds: a statement held there certainly
 * runs when the test kills its session, however slow the machine.
 */
/** killedAtGate() of fixture.ts for the MySQL family: KILLs the sessions of `user` at `f`'s gate. */
export async function myKilledAtGate<T>(f: MyFixture, user: string, work: (held: MyGate) => Promise<T>, sessions?: number) {
  const held = await f.gate();
  try {
    const running = outcome(work(held));
    await held.held(user);
    const killed = await f.kill(user);
    if (sessions !== undefined) assert.equal(killed, sessions);
    await held.open();
    return await running;
  } finally {
    await held.open();
  }
}

async function myGate(url: string): Promise<MyGate> {
  const name = `gate_${randomBytes(5).toString('hex')}`;
  const holder = await createConnection(url);
  holder.on('error', () => {});
  await holder.query('SELECT GET_LOCK(?, 60)', [name]);
  let opened = false;
  return {
    // Takes the lock once the test lets go of it, and gives it back at once.
    sql: `(GET_LOCK('${name}', 60) + RELEASE_LOCK('${name}'))`,
    held: async (user, count = 1) => {
      for (let i = 0; i < 2000; i++) {
        const [rows] = await holder.query<RowDataPacket[]>(
          "SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE = 'User lock'",
          [user],
        );
        if (Number(rows[0]!['n']) >= count) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`${count} statements of ${user} never reached the gate`);
    },
    open: async () => {
      if (opened) return;
      opened = true;
      await holder.end().catch(() => holder.destroy());
    },
  };
}

/** No connection borrowed and not returned: every connection the pool counts is idle in it. */
export async function assertMyPoolIntact(sequelize: Sequelize): Promise<void> {
  const pool = () =>
    (sequelize as unknown as { connectionManager: { pool: { size: number; available: number; using: number; waiting: number } } })
      .connectionManager.pool;
  for (let i = 0; i < 50 && (pool().using !== 0 || pool().size !== pool().available || pool().waiting !== 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const { using, waiting, size, available } = pool();
  assert.deepEqual({ using, waiting, idleIsAll: size === available }, { using: 0, waiting: 0, idleIsAll: true });
}
