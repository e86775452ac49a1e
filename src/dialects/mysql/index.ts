import type { TransactionLike } from '../../engine/port';
import type { Dialect } from '../types';
import { mariadbClassifier, mysqlClassifier } from './classify';
import { abortMariadb, destroyMysql2, guardMariadb, guardMysql2 } from './guard';
import { mariadbSilence, mysql2Silence } from './silence';

/** Sequelize's isolation levels are constants such as `READ COMMITTED`; nothing else is ever replayed. */
const ISOLATION_LEVEL = /^(READ UNCOMMITTED|READ COMMITTED|REPEATABLE READ|SERIALIZABLE)$/;
const START_TRANSACTION = /^\s*START\s+TRANSACTION\b/i;

/**
 * Sequelize sends `SET TRANSACTION ISOLATION LEVEL …` (good for the session's next transaction
 * only) before `START TRANSACTION`. A `START TRANSACTION` moved to a new connection needs it again.
 */
function isolationPrelude(sql: string, transaction: TransactionLike): string | undefined {
  const level = transaction.options.isolationLevel;
  if (transaction.parent || !START_TRANSACTION.test(sql) || typeof level !== 'string' || !ISOLATION_LEVEL.test(level)) return undefined;
  return `SET TRANSACTION ISOLATION LEVEL ${level};`;
}

interface CallbackPing {
  ping(callback: (error: Error | null) => void): unknown;
}
interface PromisePing {
  ping(): Promise<unknown>;
}
/** MySQL or MariaDB through mysql2 (Sequelize's `mysql` dialect). */
export const mysql: Dialect = {
  name: 'mysql',
  classifier: mysqlClassifier,
  // Sequelize loads mysql2's callback API.
  ping: (connection) =>
    new Promise<void>((resolve, reject) => {
      (connection as CallbackPing).ping((error) => (error ? reject(error) : resolve()));
    }),
  // Sequelize's mysql Query resolves a statement without rows to [header, header].
  rolledBackResult: () => {
    const header = { fieldCount: 0, affectedRows: 0, insertId: 0, info: '', serverStatus: 2, warningStatus: 0, changedRows: 0 };
    return [header, header];
  },
  transactionPrelude: isolationPrelude,
  guardDriver: guardMysql2,
  destroyDriverConnection: destroyMysql2,
  // mysql2's `destroy()` closes the socket at once.
  abortDriverConnection: destroyMysql2,
  silence: mysql2Silence,
};

/** MariaDB (or MySQL) through the mariadb connector (Sequelize's `mariadb` dialect). */
export const mariadb: Dialect = {
  name: 'mariadb',
  classifier: mariadbClassifier,
  ping: async (connection) => {
    await (connection as PromisePing).ping();
  },
  // Sequelize's mariadb Query resolves a statement without rows to [okPacket, null].
  rolledBackResult: () => [{ affectedRows: 0, insertId: 0, warningStatus: 0 }, null],
  transactionPrelude: isolationPrelude,
  guardDriver: guardMariadb,
  abortDriverConnection: abortMariadb,
  silence: mariadbSilence,
};
