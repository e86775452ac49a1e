// Rotated credentials: the database password changes (ALTER ROLE … PASSWORD) and the role's
// sessions are ended, as HashiCorp Vault or AWS Secrets Manager rotation does. The app fetches
// the password from its secrets store once per rotation (cachedCredentials) and only when a
// login was refused (refreshCredentials), and no statement fails.
// DATABASE_URL must name a superuser: the example creates its own role and rotates it.
import { Client } from 'pg';
import { QueryTypes, Sequelize } from 'sequelize';
import { autoreconnect, cachedCredentials, getReconnectStats, refreshCredentials } from 'sequelize-autoreconnect';

const url = process.env['DATABASE_URL'];
if (!url) throw new Error('set DATABASE_URL to a PostgreSQL superuser URL');
const role = `example_rotation_${process.pid}`;

/** Stands in for the secrets store: it owns the role's password and rotates it. */
const store = {
  password: 'first-password',
  reads: 0,
  read(): Promise<{ username: string; password: string }> {
    this.reads++;
    return Promise.resolve({ username: role, password: this.password });
  },
};

async function main(): Promise<void> {
  await admin(`CREATE ROLE ${role} LOGIN PASSWORD '${store.password}'`);
  const { hostname, port, pathname } = new URL(url!);
  const vault = cachedCredentials(() => store.read());
  const initial = await vault.get();
  const sequelize = new Sequelize(decodeURIComponent(pathname.slice(1)), initial.username!, initial.password, {
    host: hostname,
    port: Number(port || 5432),
    dialect: 'postgres',
    logging: false,
  });
  // Retries: one for the statement whose session ended, one for the refused login after it.
  sequelize.use(autoreconnect({ retries: 3 }));
  sequelize.addHook('beforeReconnect', refreshCredentials(vault));
  try {
    const whoami = () => sequelize.query<{ user: string }>('SELECT current_user AS user', { type: QueryTypes.SELECT });
    console.log(`before rotation: connected as ${(await whoami())[0]!.user}`);

    // The rotation: a new password, published in the store, set on the role; its sessions ended.
    store.password = 'second-password';
    await admin(`ALTER ROLE ${role} PASSWORD '${store.password}'`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);

    // The pooled connection is gone and the old password is refused: refreshed, retried, answered.
    console.log(`after rotation: connected as ${(await whoami())[0]!.user}`);
    console.log(`secrets store read ${store.reads} time(s)`);
    console.log(`stats: ${JSON.stringify(getReconnectStats(sequelize))}`);
  } finally {
    await sequelize.close();
    await admin(`DROP ROLE ${role}`);
  }
}

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
