// A CommonJS user: `require` of the installed tarball, then a real query through the plugin.
'use strict';
const { Sequelize, ConnectionError } = require('sequelize');
const pkg = require('sequelize-autoreconnect');

async function main() {
  const sequelize = new Sequelize(process.env.DATABASE_URL, {
    logging: false,
    dialectOptions: { application_name: 'consumer_cjs' },
  });
  const returned = sequelize.use(pkg.autoreconnect({ retries: 2 }));
  sequelize.addHook('beforeReconnect', 'consumer', () => {});
  const [row] = await sequelize.query('SELECT 41 + 1 AS answer', { type: 'SELECT', reconnect: { retries: 1 } });
  const stats = pkg.getReconnectStats(sequelize);
  // @opentelemetry/api is not installed here: the package loads, and only this call fails.
  let otel = 'no error';
  try {
    pkg.instrumentOpenTelemetry();
  } catch (error) {
    otel = error.message;
  }
  await sequelize.close();
  console.log(
    JSON.stringify({
      resolved: require.resolve('sequelize-autoreconnect'),
      exports: Object.keys(pkg).sort(),
      use: typeof Sequelize.prototype.use,
      useReturnsInstance: returned === sequelize,
      connectionError: pkg.ConnectionLostError.prototype instanceof ConnectionError,
      answer: row.answer,
      stats: Object.keys(stats).sort(),
      otel,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
