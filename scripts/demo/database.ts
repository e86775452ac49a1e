/**
 * The demo's database: an embedded PostgreSQL, or a private MariaDB that the `mysql` (mysql2)
 * or `mariadb` (mariadb connector) dialect talks to. Each run gets a fresh database.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { Sequelize } from 'sequelize';
import { autoreconnect, type AutoReconnectOptions } from '../../src';
import { findBinary } from '../../test/support/binaries';
import { admin, createDatabase, testSequelize, uniqueAppName, withHostPort } from '../../test/support/db';
import { MariaDbServer } from '../../test/support/mariadb';
import { myAdmin } from '../../test/support/mysql';
import { TestServer } from '../../test/support/postgres';
import { onCleanup } from '../lib/scratch';

export type DemoDialect = 'postgres' | 'mysql' | 'mariadb';
export const DEMO_DIALECTS: readonly DemoDialect[] = ['postgres', 'mysql', 'mariadb'];

interface Endpoint {
  host: string;
  port: number;
}

export interface DemoServer {
  readonly description: string;
  readonly target: Endpoint;
  /** A fresh, empty database. */
  database(): Promise<DemoDatabase>;
}

export interface DemoDatabase {
  /** An instance whose sessions `terminate(name)` can end, connecting through `via`. */
  sequelize(via: Endpoint, plugin: AutoReconnectOptions | false, pool: object): Promise<{ sequelize: Sequelize; name: string }>;
  /** Ends every session of the instance named `name` on the server (a failover). */
  terminate(name: string): Promise<void>;
  /** Rows per `table/tag` in Orders and Events: the ground truth behind every claim. */
  tagCounts(): Promise<Map<string, number>>;
}

export async function startDemoServer(dialect: DemoDialect): Promise<DemoServer> {
  return dialect === 'postgres' ? postgres() : mariadb(dialect);
}

async function postgres(): Promise<DemoServer> {
  const server = await TestServer.start();
  onCleanup(() => server.destroy());
  return {
    description: 'PostgreSQL (embedded)',
    target: { host: '127.0.0.1', port: server.port },
    database: async () => {
      const db = await createDatabase(server.url);
      return {
        sequelize: (via, plugin, pool) => {
          const name = uniqueAppName('orders');
          return Promise.resolve({
            sequelize: testSequelize(withHostPort(db.url, via.host, via.port), { appName: name, plugin, pool }),
            name,
          });
        },
        terminate: async (name) => {
          await admin(server.url, (c) =>
            c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
              name,
            ]),
          );
        },
        tagCounts: () =>
          admin(db.url, async (c) => {
            const { rows } = await c.query<{ t: string; tag: string; n: number }>(
              `SELECT 'Orders' AS t, tag, count(*)::int AS n FROM "Orders" GROUP BY tag
               UNION ALL SELECT 'Events', tag, count(*)::int FROM "Events" GROUP BY tag`,
            );
            return new Map(rows.map((r) => [`${r.t}/${r.tag}`, r.n]));
          }),
      };
    },
  };
}

async function mariadb(dialect: 'mysql' | 'mariadb'): Promise<DemoServer> {
  if (!findBinary('mariadbd')) throw new Error('mariadb-server is not installed (apt-get install -y mariadb-server)');
  const server = await MariaDbServer.start();
  onCleanup(() => server.destroy());
  const run = <T>(fn: (c: import('mysql2/promise').Connection) => Promise<T>) => myAdmin(server.url, fn);
  const driver = dialect === 'mysql' ? 'mysql2' : 'the mariadb connector';
  return {
    description: `MariaDB (mariadb-server), Sequelize's ${dialect} dialect (${driver})`,
    target: { host: '127.0.0.1', port: server.port },
    database: async () => {
      const database = `demo_${randomBytes(4).toString('hex')}`;
      await run((c) => c.query(`CREATE DATABASE ${database}`));
      return {
        sequelize: async (via, plugin, pool) => {
          // Sessions are told apart by user: one per instance.
          const name = `orders_${randomBytes(4).toString('hex')}`;
          const password = randomBytes(8).toString('hex');
          await run(async (c) => {
            await c.query(`CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'`);
            await c.query(`GRANT ALL ON ${database}.* TO '${name}'@'%'`);
          });
          const sequelize = new Sequelize(`${dialect}://${name}:${password}@${via.host}:${via.port}/${database}`, { logging: false, pool });
          if (plugin !== false) sequelize.use(autoreconnect(plugin));
          return { sequelize, name };
        },
        terminate: (name) =>
          run(async (c) => {
            const [rows] = await c.query<RowDataPacket[]>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [name]);
            for (const row of rows) await c.query(`KILL ${Number(row['id'])}`).catch(() => {});
          }),
        tagCounts: () =>
          run(async (c) => {
            const [rows] = await c.query<RowDataPacket[]>(
              `SELECT 'Orders' AS t, tag, count(*) AS n FROM ${database}.Orders GROUP BY tag
               UNION ALL SELECT 'Events', tag, count(*) FROM ${database}.Events GROUP BY tag`,
            );
            return new Map(rows.map((r) => [`${String(r['t'])}/${String(r['tag'])}`, Number(r['n'])]));
          }),
      };
    },
  };
}
