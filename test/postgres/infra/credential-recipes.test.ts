/**
 * The credential recipes, run as printed (test/support/recipes.ts), against the faults they
 * claim to handle: a changed password (28P01), a role that may not log in (28000), pgbouncer's
 * rejection (08P01), each costing one secret fetch; and an outage (the server refusing
 * connections), through which the plugin retries its connects without a single fetch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { QueryTypes, type Sequelize } from 'sequelize';
import { ConnectionLostError, getReconnectStats, type ReconnectContext } from '../../../src';
import { describeWith } from '../../support/binaries';
import { admin, adminUrl, createDatabase } from '../../support/db';
import { FaultProxy } from '../../support/fault-proxy';
import { outcome } from '../../support/fixture';
import { PgBouncer, pgbouncerBinary } from '../../support/pgbouncer';
import { SUPERUSER, SUPERUSER_PASSWORD } from '../../support/postgres';
import { awsRecipe, helperRecipe, removeScratch, Secrets, vaultRecipe, type Recipe, type Target } from '../../support/recipes';
import { sleep } from '../../support/workload';

const server = new URL(adminUrl());
const direct = { host: server.hostname, port: Number(server.port) };
let database: Awaited<ReturnType<typeof createDatabase>>;
let deployments = 0;
const roles: string[] = [];

before(async () => {
  database = await createDatabase();
});
after(async () => {
  removeScratch();
  await admin(adminUrl(), async (c) => {
    for (const role of roles) {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await c.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });
  await database?.drop();
});

const password = () => `pw-${randomBytes(6).toString('hex')}`;

/** A login role of its own for one run, and the store that hands out its password. */
async function newRole(stale: string[] = []): Promise<Secrets> {
  const role = `recipe_${randomBytes(4).toString('hex')}`;
  const secrets = new Secrets(role, password(), stale);
  roles.push(role);
  await admin(adminUrl(), (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${secrets.password}'`));
  return secrets;
}

/** Ends the role's sessions, as a rotation's `revocation_statements` would. */
const terminate = (role: string) =>
  admin(adminUrl(), (c) => c.query('SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = $1', [role]));

const select = (sequelize: Sequelize) => sequelize.query('SELECT 1 AS one', { type: QueryTypes.SELECT });

/** What each `beforeReconnect` saw: the plugin's classification and the server's SQLSTATE. */
function watch(sequelize: Sequelize): string[] {
  const seen: string[] = [];
  sequelize.addHook('beforeReconnect', (ctx: ReconnectContext) => {
    const e = ctx.error as { code?: string; parent?: { code?: string }; original?: { code?: string } };
    seen.push(`${ctx.failure} ${e.parent?.code ?? e.original?.code ?? e.code ?? '?'}`);
  });
  return seen;
}

/**
 * Deploys `recipe`, runs a first statement (with `warmUp`), applies `fault`, waits out the
 * recipe's refetch guard, and runs a statement that needs a new login: it must succeed, the
 * hooks must have seen `expected`, and the store must have been read once for the refusal.
 */
async function refusedLogin(
  recipe: Recipe,
  secrets: Secrets,
  target: Target,
  warmUp: boolean,
  fault: () => Promise<void>,
  expected: string,
) {
  const app = await recipe.deploy(target, secrets, ++deployments);
  const seen = watch(app.sequelize);
  try {
    if (warmUp) await select(app.sequelize);
    const startFetches = recipe.fetchesAtStart === 'first connect' ? 1 : recipe.fetchesAtStart;
    await fault();
    await sleep(recipe.refetchAfterMs + 100);
    const result = await outcome(select(app.sequelize));
    assert.ok(result.ok, !result.ok ? result.error.message : '');
    assert.ok(seen.includes(expected), `${recipe.name}: hooks saw ${JSON.stringify(seen)}`);
    assert.equal(secrets.fetches, startFetches + 1, `${recipe.name}: one fetch for the refusal`);
  } finally {
    await app.close();
  }
}

const recipes = [vaultRecipe, awsRecipe, helperRecipe];

describe('credential recipes against PostgreSQL', () => {
  for (const recipe of recipes) {
    it(`${recipe.name}: a changed password (28P01) costs one fetch`, async () => {
      const secrets = await newRole();
      const target = { ...direct, database: database.name };
      const rotate = async () => {
        secrets.password = password();
        await admin(adminUrl(), (c) => c.query(`ALTER ROLE ${secrets.username} PASSWORD '${secrets.password}'`));
        await terminate(secrets.username);
      };
      await refusedLogin(recipe, secrets, target, true, rotate, 'auth 28P01');
    });

    it(`${recipe.name}: a role that may not log in (28000) costs one fetch`, async () => {
      const secrets = await newRole();
      const target = { ...direct, database: database.name };
      const forbid = async () => {
        await admin(adminUrl(), (c) => c.query(`ALTER ROLE ${secrets.username} NOLOGIN`));
        await terminate(secrets.username);
        // The store's next answer is a login that works again: a new lease, a policy fixed.
        secrets.repair = async () => void (await admin(adminUrl(), (c) => c.query(`ALTER ROLE ${secrets.username} LOGIN`)));
      };
      await refusedLogin(recipe, secrets, target, true, forbid, 'auth 28000');
    });

    it(`${recipe.name}: an outage (connections refused) retries without a fetch`, async () => {
      const secrets = await newRole();
      const proxy = await FaultProxy.start({ target: direct });
      const app = await recipe.deploy({ host: proxy.host, port: proxy.port, database: database.name }, secrets, ++deployments);
      const seen = watch(app.sequelize);
      try {
        await select(app.sequelize);
        const before = secrets.fetches;
        // Past the recipe's refetch guard, so that only its test of the failure holds a fetch back.
        await sleep(recipe.refetchAfterMs + 100);
        proxy.refuse();
        proxy.resetAll();
        const down = await outcome(select(app.sequelize));
        assert.ok(!down.ok && down.error instanceof ConnectionLostError, !down.ok ? down.error.message : 'succeeded');
        const stats = getReconnectStats(app.sequelize);
        assert.ok(proxy.refusedCount >= 2 && stats.connectFailures >= 2, `${proxy.refusedCount} refused, ${JSON.stringify(stats)}`);
        assert.ok(seen.length >= 1 && seen.every((s) => !s.startsWith('auth')), JSON.stringify(seen));
        assert.equal(secrets.fetches, before, `${recipe.name}: no fetch during the outage`);
        proxy.accept();
        await select(app.sequelize);
        assert.equal(secrets.fetches, before, `${recipe.name}: no fetch after it`);
      } finally {
        await app.close();
        await proxy.close();
      }
    });
  }
});

describeWith(pgbouncerBinary(), 'credential recipes behind pgbouncer', () => {
  let bouncer: PgBouncer;
  const secrets: Secrets[] = [];
  before(async () => {
    for (let i = 0; i < recipes.length; i++) secrets.push(await newRole(['stale-password']));
    const users: Record<string, string> = { [SUPERUSER]: SUPERUSER_PASSWORD };
    for (const s of secrets) users[s.username] = s.password;
    bouncer = await PgBouncer.start({ target: direct, users, adminUsers: [SUPERUSER] });
  });
  after(async () => {
    await bouncer?.close();
  });

  recipes.forEach((recipe, i) => {
    it(`${recipe.name}: pgbouncer's rejection (08P01) costs one fetch`, async () => {
      // The store's first answer is a password rotated away; pgbouncer knows the current one.
      const target = { host: bouncer.host, port: bouncer.port, database: database.name };
      await refusedLogin(recipe, secrets[i]!, target, false, async () => {}, 'auth 08P01');
    });
  });
});
