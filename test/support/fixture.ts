import assert from 'node:assert/strict';
import { Client } from 'pg';
import type { Sequelize } from 'sequelize';
import { admin, adminUrl, createDatabase, terminateBackends, uniqueAppName, withHostPort } from './db';
import { FaultProxy } from './fault-proxy';
import { useInSuite } from './suite';
import { startWorkers } from './workload';

/** A database of its own with an `items` table, and a fault proxy in front of its server. */
export interface Fixture {
  /** Direct superuser URL of the test database. */
  readonly url: string;
  /** The same database through the fault proxy. */
  readonly proxiedUrl: string;
  readonly proxy: FaultProxy;
  /** Rows with this tag, counted directly (not through the proxy). */
  count(tag: string): Promise<number>;
  appName(prefix?: string): string;
  /** Closes the given instances, the proxy, and drops the database. */
  close(...instances: Sequelize[]): Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const db = await createDatabase();
  await admin(db.url, (c) =>
    c.query('CREATE TABLE items (id serial PRIMARY KEY, tag text NOT NULL, "createdAt" timestamptz, "updatedAt" timestamptz)'),
  );
  const server = new URL(adminUrl());
  const proxy = await FaultProxy.start({ target: { host: server.hostname, port: Number(server.port) } });
  return {
    url: db.url,
    proxiedUrl: withHostPort(db.url, proxy.host, proxy.port),
    proxy,
    count: (tag) =>
      admin(db.url, async (c) => {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE tag = $1', [tag]);
        return rows[0]!.n;
      }),
    appName: (prefix = 'app') => uniqueAppName(prefix),
    close: async (...instances) => {
      await Promise.all(instances.map((s) => s.close().catch(() => {})));
      await proxy.close();
      await db.drop();
    },
  };
}

/**
 * A fixture for the enclosing describe(), made in its before() and closed in its after() with
 * the instances `closeWith` returns then (those the tests made and left open).
 */
export function useFixture(closeWith?: () => Sequelize[]): Fixture {
  return useInSuite(fixture, closeWith);
}

/** Settles a promise into a value or an error, for assertions on either. */
export async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: Error & Record<string, unknown> }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: error as Error & Record<string, unknown> };
  }
}

/** `promise`'s outcome, or 'pending' once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export { defineItem, type ItemModel } from './items';

/** Resolves when `appName` has a statement running on the server, so a kill lands mid-query. */
export async function waitForActiveQuery(serverUrl: string, appName: string, fragment: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const running = await admin(serverUrl, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE $2",
        [appName, `%${fragment}%`],
      );
      return rows[0]!.n;
    });
    if (running > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no active query like ${fragment} for ${appName}`);
}

/** What became of each write of a run under faults, and the rows each left. */
export interface WritesUnderFaults {
  /** By tag: true when the call resolved, else its error. */
  readonly outcomes: Map<string, true | Error>;
  /** Rows per tag (tags start with `${appName}:`). */
  readonly counts: Map<string, number>;
  readonly injected: number;
}

/**
 * Four workers call `write(tag)` with a fresh tag each time, while `faults` are injected in turn
 * for `ms`, one every 40 ms: `'kill'` ends the sessions of `appName`, `'<match> <action>'` arms the
 * fixture's proxy. The workers stop and the proxy is disarmed on every path.
 */
export async function writesUnderFaults(
  f: Fixture,
  appName: string,
  faults: readonly string[],
  write: (tag: string) => Promise<unknown>,
  ms = 3000,
): Promise<WritesUnderFaults> {
  const outcomes = new Map<string, true | Error>();
  const workers = startWorkers(
    4,
    async (worker, n) => {
      const tag = `${appName}:${worker}:${n}`;
      try {
        await write(tag);
        outcomes.set(tag, true);
      } catch (error) {
        outcomes.set(tag, error as Error);
        throw error;
      }
    },
    1,
  );
  let injected = 0;
  try {
    for (const started = Date.now(); Date.now() - started < ms; injected++) {
      const fault = faults[injected % faults.length]!;
      if (fault === 'kill') await terminateBackends(adminUrl(), appName);
      else {
        const [match, action] = fault.split(' ') as [string, 'reset' | 'cut-after-send' | 'swallow-reply'];
        f.proxy.arm(match, action);
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  } finally {
    f.proxy.disarm();
    await workers.stop();
  }
  return { outcomes, counts: await countByTag(f, `${appName}:`), injected };
}

/** Rows per tag among the tags that start with `prefix`. */
export async function countByTag(f: Fixture, prefix: string): Promise<Map<string, number>> {
  return admin(f.url, async (c) => {
    const { rows } = await c.query<{ tag: string; n: number }>('SELECT tag, count(*)::int AS n FROM items WHERE tag LIKE $1 GROUP BY tag', [
      `${prefix}%`,
    ]);
    return new Map(rows.map((r) => [r.tag, r.n]));
  });
}

/** Holds statements on the server until the test opens it. */
export interface Gate {
  /** A SQL expression to put in a statement: it blocks there while the gate is shut. */
  readonly sql: string;
  /** Resolves once `count` statements of `appName` are held at the gate. */
  held(appName: string, count?: number): Promise<void>;
  /** Lets every held statement, and every later one, through. */
  open(): Promise<void>;
}

/**
 * A gate on an advisory lock that a client of the test holds, in the database at `url` (advisory
 * locks belong to a database). A statement held there is certainly running when the test kills
 * its session, however slow the machine: no sleep has to be long enough.
 */
export async function gate(url: string): Promise<Gate> {
  const key = Math.floor(Math.random() * 2 ** 31);
  const holder = new Client({ connectionString: url });
  holder.on('error', () => {});
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  let opened = false;
  return {
    sql: `pg_advisory_xact_lock_shared(${key})::text`,
    held: async (appName, count = 1) => {
      for (let i = 0; i < 2000; i++) {
        const { rows } = await holder.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
          [appName],
        );
        if (rows[0]!.n >= count) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`${count} statements of ${appName} never reached the gate`);
    },
    open: async () => {
      if (opened) return;
      opened = true;
      await holder.end();
    },
  };
}

/**
 * Runs `work` with a gate shut and, once `appName` waits at it (so certainly mid-statement),
 * kills its sessions, asserting how many when `sessions` is given, and opens the gate: a retry
 * runs after the kill. Settles `work` into an outcome.
 */
export async function killedAtGate<T>(url: string, appName: string, work: (held: Gate) => Promise<T>, sessions?: number) {
  const held = await gate(url);
  try {
    const running = outcome(work(held));
    await held.held(appName);
    const killed = await terminateBackends(adminUrl(), appName);
    if (sessions !== undefined) assert.equal(killed, sessions);
    await held.open();
    return await running;
  } finally {
    await held.open();
  }
}

/** The connections an instance opened, and how many of them have ended. */
export interface ConnectionWatch {
  readonly opened: number;
  readonly ended: number;
}

/**
 * Counts the pg clients `sequelize` opens from now on (Sequelize's first one only reads the
 * server version and is closed at once) and those whose connection then ended (`'end'`: the
 * client has read the close, whoever closed it). A test that lets a server or proxy timeout
 * end idle connections waits for `ended === opened`, not for a sleep to be long enough.
 */
export function watchConnections(sequelize: Sequelize): ConnectionWatch {
  const watch = { opened: 0, ended: 0 };
  sequelize.addHook('afterConnect', (connection: unknown) => {
    watch.opened++;
    (connection as { once(event: 'end', listener: () => void): void }).once('end', () => watch.ended++);
  });
  return watch;
}
