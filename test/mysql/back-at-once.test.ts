/**
 * Back at once on MySQL and MariaDB: while nothing listens on the server's port the plugin only
 * knocks, and reads backing off go as soon as the port opens.
 */
import { it } from 'node:test';
import { QueryTypes } from 'sequelize';
import { describeWith } from '../support/binaries';
import { mariadbRequirement } from '../support/mariadb';
import { assertMyPoolIntact, FAMILY, useMyFixture } from '../support/mysql';
import { assertKnocksThenBackAtOnce, refusingPort } from '../support/refusing-port';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: back at once`, () => {
    const f = useMyFixture();

    it('while nothing listens it knocks rather than logs in, and the reads go once the port opens', async () => {
      const server = new URL(f.url);
      const refusing = await refusingPort({ host: server.hostname, port: Number(server.port) });
      try {
        const { sequelize } = await f.app(dialect, {
          via: { host: '127.0.0.1', port: refusing.port },
          pool: { max: 4 },
          plugin: { retries: 1000, deadlineMs: 60_000, backoff: { baseMs: 500, maxMs: 2000 } },
        });
        const bare = await f.app(dialect, { proxied: false, plugin: false });
        const freshConnection = async () => {
          const started = Date.now();
          await bare.sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
          return Date.now() - started;
        };
        await assertKnocksThenBackAtOnce(sequelize, refusing, freshConnection);
        await assertMyPoolIntact(sequelize);
      } finally {
        await refusing.close();
      }
    });
  });
}
