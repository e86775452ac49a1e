// Plain JavaScript (CommonJS): the plugin on a Sequelize instance, a read retried after the
// server ended its connection under it, and a write reported instead of run twice.
// Run: DATABASE_URL=postgres://user:password@host/db node examples/javascript/app.js
// (or `npm run example -- javascript`, which starts a PostgreSQL of its own).
const { Client } = require('pg');
const { DataTypes, QueryTypes, Sequelize } = require('sequelize');
const { autoreconnect, ConnectionLostError, getReconnectStats } = require('sequelize-autoreconnect');

const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL to a PostgreSQL URL');
const appName = 'example-javascript';

async function main() {
  const sequelize = new Sequelize(url, { logging: false, dialectOptions: { application_name: appName } });
  sequelize.use(autoreconnect({ retries: 3 }));
  const Note = sequelize.define('Note', { text: DataTypes.STRING }, { tableName: 'example_notes', timestamps: false });
  try {
    await Note.sync({ force: true });
    await Note.create({ text: 'first' });

    // A read: the server ends its session while it runs; the plugin retries it on a new connection.
    const [row] = await endSessionWhileRunning(() =>
      sequelize.query('SELECT count(*)::int AS notes FROM example_notes, pg_sleep(0.5)', { type: QueryTypes.SELECT }),
    );
    console.log(`read retried: ${row.notes} note(s)`);

    // A write that may have run when its connection died: reported, never run twice.
    try {
      await endSessionWhileRunning(() => sequelize.query("INSERT INTO example_notes (text) SELECT 'slow' FROM pg_sleep(0.5)"));
    } catch (error) {
      if (!(error instanceof ConnectionLostError)) throw error;
      console.log(`write not retried: ${error.reason}, mayHaveExecuted=${error.mayHaveExecuted}`);
    }
    console.log(`stats: ${JSON.stringify(getReconnectStats(sequelize))}`);
  } finally {
    await sequelize.close();
  }
}

/**
 * A real fault, to show the plugin at work: once `run`'s statement is running, the server ends
 * that session (pg_terminate_backend, as an administrator or a failover would).
 */
async function endSessionWhileRunning(run) {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    const pending = run();
    pending.catch(() => {}); // awaited below; not unhandled while we wait
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rowCount } = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
        [appName],
      );
      if (rowCount > 0) break;
      if (Date.now() > deadline) throw new Error('the statement never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return await pending;
  } finally {
    await admin.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
