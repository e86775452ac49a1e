// An ES module user: `import` of the installed tarball; it must be the module `require` loads.
import { createRequire } from 'node:module';
import { Sequelize, ConnectionError, QueryTypes } from 'sequelize';
import * as esm from 'sequelize-autoreconnect';
import defaultExport, { autoreconnect, getReconnectStats, ConnectionLostError } from 'sequelize-autoreconnect';

const require = createRequire(import.meta.url);
const cjs = require('sequelize-autoreconnect');

const sequelize = new Sequelize(process.env.DATABASE_URL, {
  logging: false,
  dialectOptions: { application_name: 'consumer_esm' },
});
const returned = sequelize.use(autoreconnect({ retries: 2, retryWrites: 'never' }));
const [row] = await sequelize.query('SELECT 41 + 1 AS answer', { type: QueryTypes.SELECT });
const stats = getReconnectStats(sequelize);
// @opentelemetry/api is not installed here: the package loads, and only this call fails.
let otel = 'no error';
try {
  esm.instrumentOpenTelemetry();
} catch (error) {
  otel = error.message;
}
await sequelize.close();

console.log(
  JSON.stringify({
    resolved: import.meta.resolve('sequelize-autoreconnect'),
    exports: Object.keys(esm).sort(),
    sameAsRequire: autoreconnect === cjs.autoreconnect && ConnectionLostError === cjs.ConnectionLostError && defaultExport === cjs,
    use: typeof Sequelize.prototype.use,
    useReturnsInstance: returned === sequelize,
    connectionError: ConnectionLostError.prototype instanceof ConnectionError,
    answer: row.answer,
    stats: Object.keys(stats).sort(),
    otel,
  }),
);
