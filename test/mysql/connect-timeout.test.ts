import { describeWith } from '../support/binaries';
import { mariadbRequirement, mariadbUrl } from '../support/mariadb';
import { FAMILY, useMyFixture } from '../support/mysql';
import { stalledConnectTests } from '../support/stalled';

for (const dialect of FAMILY) {
  describeWith(mariadbRequirement(), `${dialect}: a connect that gets no answer`, () => {
    const f = useMyFixture();
    const server = () => {
      const url = new URL(mariadbUrl());
      return { host: url.hostname, port: Number(url.port) };
    };
    stalledConnectTests(async (port, plugin) => (await f.app(dialect, { plugin, via: { host: '127.0.0.1', port } })).sequelize, server);
  });
}
