/**
 * The 12factor-vault story: the database password is rotated (ALTER ROLE ... PASSWORD) and the
 * role's sessions are terminated. The app fetches the current password from a secrets store
 * (a small in-test stand-in for Vault) in a `beforeReconnect` hook.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConnectionError, QueryTypes, type Sequelize } from 'sequelize';
import { cachedCredentials, getReconnectStats, refreshCredentials, type Credentials } from '../../../src';
import { admin, adminUrl, assertPoolIntact, testSequelize } from '../../support/db';
import { gate, outcome, useFixture } from '../../support/fixture';
import { describeErrors, sleep, startWorkers, until } from '../../support/workload';

/** Stands in for Vault's database secrets engine: it owns the role's password and rotates it. */
class SecretsStore {
  private password = `initial-${randomBytes(6).toString('hex')}`;
  /** Reads served: what single flight must keep low. */
  reads = 0;

  constructor(
    private readonly serverUrl: string,
    readonly role: string,
  ) {}

  get currentPassword(): string {
    return this.password;
  }

  async createRole(databaseUrl: string): Promise<void> {
    await admin(databaseUrl, async (c) => {
      await c.query(`CREATE ROLE ${this.role} LOGIN PASSWORD '${this.password}'`);
      await c.query(`GRANT ALL ON TABLE items, kv TO ${this.role}`);
    });
  }

  /** What the app calls: one round trip to the store. */
  async read(): Promise<Credentials> {
    this.reads++;
    await sleep(20);
    return { username: this.role, password: this.password };
  }

  /**
   * A new password, published by the store and then set on the server, and every session of
   * the role ended. (Published first, so that any login the server refuses finds the new one;
   * a store lagging behind costs an extra read, see test/unit/credentials.test.ts.)
   */
  async rotate(): Promise<void> {
    const next = `rotated-${randomBytes(6).toString('hex')}`;
    this.password = next;
    await admin(this.serverUrl, async (c) => {
      await c.query(`ALTER ROLE ${this.role} PASSWORD '${next}'`);
      // Waits until they have exited (PostgreSQL 14+), so none lives on past the rotation.
      await c.query('SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = $1', [this.role]);
    });
  }

  async dropRole(): Promise<void> {
    await admin(this.serverUrl, (c) => c.query(`DROP ROLE IF EXISTS ${this.role}`));
  }
}

const UPSERT = 'INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v';

describe('credential rotation', () => {
  const f = useFixture();
  let store: SecretsStore;
  before(async () => {
    await admin(f.url, (c) => c.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'));
    store = new SecretsStore(adminUrl(), `rotating_${randomBytes(4).toString('hex')}`);
    await store.createRole(f.url);
  });
  after(async () => {
    await store?.dropRole();
  });

  /** The app's URL, with the password it was deployed with. */
  function appUrl(): string {
    const u = new URL(f.url);
    u.username = store.role;
    u.password = store.currentPassword;
    return u.toString();
  }

  it('keeps an app under load running through two rotations with zero failed operations, one secret read per rotation; bare Sequelize fails', async () => {
    // A retry for the lost statement and one for the login its new connection needs.
    const plugin = { retries: 3, backoff: { baseMs: 10, maxMs: 50 } };
    const sequelize = testSequelize(appUrl(), { appName: f.appName(), plugin, pool: { max: 10 } });
    // minRefreshMs below the 700 ms between rotations: each rotation is a rejection of its own.
    sequelize.addHook('beforeReconnect', refreshCredentials(cachedCredentials(() => store.read(), { minRefreshMs: 300 })));
    const bare = testSequelize(appUrl(), { appName: f.appName('bare'), plugin: false, pool: { max: 3 } });
    try {
      const app = (s: Sequelize) => (worker: number, n: number) =>
        n % 2 === 0
          ? s.query('SELECT count(*)::int AS n FROM items', { type: QueryTypes.SELECT })
          : s.query(UPSERT, { bind: [`w${worker}`, n], reconnect: { idempotent: true } } as object);
      const workers = startWorkers(10, app(sequelize));
      const bareWorkers = startWorkers(3, app(bare), 20);
      const refused = () =>
        bareWorkers.results.errors.some((e) => e instanceof ConnectionError && (e.parent as { code?: string }).code === '28P01');
      try {
        await until('both to run', () => workers.results.ok >= 10 && bareWorkers.results.ok >= 3);
        for (let rotation = 0; rotation < 2; rotation++) {
          // Rotations further apart than minRefreshMs: each is a rejection of its own.
          if (rotation > 0) await sleep(350);
          await store.rotate();
          const okAtRotation = workers.results.ok;
          await until('the app to run on the new password', () => workers.results.ok >= okAtRotation + 20);
        }
        await until('bare Sequelize to be refused', refused);
      } finally {
        await Promise.all([workers.stop(), bareWorkers.stop()]);
      }
      const [withPlugin, withoutPlugin] = [workers.results, bareWorkers.results];

      assert.deepEqual(describeErrors(withPlugin.errors), []);
      assert.equal(store.reads, 2, 'one read of the secrets store per rotation');
      const stats = getReconnectStats(sequelize);
      assert.ok(stats.connectFailures >= 2, JSON.stringify(stats));
      assert.equal(stats.retriesFailed, 0);
      // Bare Sequelize cannot log in again once its connections are gone.
      const rejected = withoutPlugin.errors.filter((e) => e instanceof ConnectionError && (e.parent as { code?: string }).code === '28P01');
      assert.ok(rejected.length > 0, describeErrors(withoutPlugin.errors).slice(0, 5).join('\n'));
      await assertPoolIntact(sequelize);
    } finally {
      await Promise.all([sequelize.close(), bare.close()]);
    }
  });

  it('twenty concurrent reconnects read the secret once with cachedCredentials; a naive hook reads it per concurrent refusal', async () => {
    const readsBefore = store.reads;
    const runTwenty = async (hook: Parameters<Sequelize['addHook']>[1] & object) => {
      const appName = f.appName();
      const sequelize = testSequelize(appUrl(), { appName, plugin: { retries: 3, backoff: { baseMs: 1, maxMs: 5 } }, pool: { max: 20 } });
      sequelize.addHook('beforeReconnect', hook as never);
      // Twenty statements running on twenty connections when the rotation ends their sessions.
      const held = await gate(f.url);
      const reads = Array.from({ length: 20 }, (_, i) =>
        outcome(sequelize.query(`SELECT ${held.sql}, ${i} AS i`, { type: QueryTypes.SELECT })),
      );
      const before = store.reads;
      try {
        await held.held(appName, 20);
        await store.rotate();
      } finally {
        await held.open();
      }
      const results = await Promise.all(reads);
      const stats = getReconnectStats(sequelize);
      await assertPoolIntact(sequelize);
      await sequelize.close();
      return { results, reads: store.reads - before, stats };
    };

    const cached = await runTwenty(refreshCredentials(cachedCredentials(() => store.read())));
    assert.deepEqual(
      cached.results.filter((r) => !r.ok).map((r) => !r.ok && r.error.message),
      [],
    );
    assert.ok(cached.stats.reconnects >= 20, JSON.stringify(cached.stats));
    assert.equal(cached.reads, 1, 'twenty reconnects, one read of the secrets store');

    // A hook that reads the store on every failed login: correct, but one read per login.
    const naive = await runTwenty(async (ctx: { phase: string; config: { password?: string | null } }) => {
      if (ctx.phase === 'connect') ctx.config.password = (await store.read()).password;
    });
    assert.deepEqual(
      naive.results.filter((r) => !r.ok).map((r) => !r.ok && r.error.message),
      [],
    );
    // A naive hook reads once per login refused while the store is being read (how many depends
    // on timing); logins refused with a password replaced since retry without the hooks.
    assert.ok(naive.reads >= 1 && naive.reads <= 20, `${naive.reads} reads`);
    assert.equal(store.reads - readsBefore, cached.reads + naive.reads);
  });
});
