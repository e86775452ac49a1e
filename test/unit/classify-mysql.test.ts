import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, DatabaseError } from 'sequelize';
import { dialectFor } from '../../src/dialects';
import { mariadbClassifier, mysqlClassifier } from '../../src/dialects/mysql/classify';

/** A driver error as mysql2 / the mariadb connector build them, wrapped the way Sequelize's Query.formatError does. */
function driverError(message: string, fields: { code?: string; errno?: number; sqlState?: string; fatal?: boolean } = {}): DatabaseError {
  return new DatabaseError(Object.assign(new Error(message), fields, { sql: 'SELECT 1' }) as never);
}
function socketError(code: string, syscall = 'read'): DatabaseError {
  return driverError(`${syscall} ${code}`, { code, fatal: true, ...{ errno: -104, syscall } });
}

const both = [
  ['mysql (mysql2)', mysqlClassifier],
  ['mariadb (connector)', mariadbClassifier],
] as const;

const LOST_MAY_HAVE_RUN: Array<[string, unknown]> = [
  [
    'mysql2 PROTOCOL_CONNECTION_LOST (KILL during a read)',
    driverError('Connection lost: The server closed the connection.', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }),
  ],
  [
    'connector ER_SOCKET_UNEXPECTED_CLOSE 45009',
    driverError('(conn=5, no: 45009, SQLState: 08S01) socket has unexpectedly been closed', {
      code: 'ER_SOCKET_UNEXPECTED_CLOSE',
      errno: 45009,
      sqlState: '08S01',
      fatal: true,
    }),
  ],
  ['ECONNRESET (a load balancer forgot the connection)', socketError('ECONNRESET')],
  ['ETIMEDOUT', socketError('ETIMEDOUT')],
  ['1053 ER_SERVER_SHUTDOWN', driverError('Server shutdown in progress', { code: 'ER_SERVER_SHUTDOWN', errno: 1053, sqlState: '08S01' })],
  ['1927 ER_CONNECTION_KILLED', driverError('Connection was killed', { code: 'ER_CONNECTION_KILLED', errno: 1927, sqlState: '70100' })],
  ['2006 CR_SERVER_GONE_ERROR', driverError('MySQL server has gone away', { errno: 2006, sqlState: 'HY000' })],
  ['2013 CR_SERVER_LOST', driverError('Lost connection to MySQL server during query', { errno: 2013, sqlState: 'HY000' })],
  [
    'connector 45004 command killed with its destroyed connection',
    driverError('Connection destroyed, command was killed', { errno: 45004 }),
  ],
  ['connector 45026 socket timeout', driverError('socket timeout', { errno: 45026, code: 'ER_SOCKET_TIMEOUT', fatal: true })],
  ['SQLSTATE class 08', driverError('communication link failure', { sqlState: '08S01', errno: 1047 })],
];
const LOST_NEVER_SENT: Array<[string, unknown]> = [
  ["mysql2's closed-state refusal", driverError("Can't add new command when connection is in closed state", { fatal: true })],
  [
    'connector ER_CMD_CONNECTION_CLOSED 45013',
    driverError('(conn=7, no: 45013, SQLState: 08S01) Cannot execute new commands: connection closed', {
      code: 'ER_CMD_CONNECTION_CLOSED',
      errno: 45013,
      sqlState: '08S01',
      fatal: true,
    }),
  ],
  ['connector ER_CONNECTION_ALREADY_CLOSED 45001', driverError('Cannot execute new commands: connection closed', { errno: 45001 })],
  [
    '4031 ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+ closing an idle session)',
    driverError('The client was disconnected by the server because of inactivity.', {
      code: 'ER_CLIENT_INTERACTION_TIMEOUT',
      errno: 4031,
      sqlState: 'HY000',
      fatal: true,
    }),
  ],
  ['1040 too many connections', driverError('Too many connections', { code: 'ER_CON_COUNT_ERROR', errno: 1040, sqlState: '08004' })],
];
const NOT_LOST: Array<[string, unknown]> = [
  [
    '1317 ER_QUERY_INTERRUPTED (KILL QUERY), even marked fatal by the connector',
    driverError('Query execution was interrupted', { code: 'ER_QUERY_INTERRUPTED', errno: 1317, sqlState: '70100', fatal: true }),
  ],
  ['1213 deadlock', driverError('Deadlock found when trying to get lock', { code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' })],
  ['1205 lock wait timeout', driverError('Lock wait timeout exceeded', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, sqlState: 'HY000' })],
  ['1062 duplicate entry', driverError("Duplicate entry '1' for key 'PRIMARY'", { code: 'ER_DUP_ENTRY', errno: 1062, sqlState: '23000' })],
  ['1064 syntax error', driverError('You have an error in your SQL syntax', { code: 'ER_PARSE_ERROR', errno: 1064, sqlState: '42000' })],
  ['1969 MariaDB statement timeout', driverError('Query execution was interrupted (max_statement_time exceeded)', { errno: 1969 })],
  [
    '3024 MySQL max_execution_time',
    driverError('Query execution was interrupted, maximum statement execution time exceeded', { errno: 3024 }),
  ],
  ['1792 a READ ONLY transaction of the caller', driverError('Cannot execute statement in a READ ONLY transaction', { errno: 1792 })],
  [
    '1290 for another server option (--secure-file-priv)',
    driverError('The MySQL server is running with the --secure-file-priv option', { errno: 1290 }),
  ],
  ['a plain error', new Error('something else')],
];
const READ_ONLY: Array<[string, unknown]> = [
  [
    '1290 --read-only (a demoted primary)',
    driverError('The MariaDB server is running with the --read-only option so it cannot execute this statement', {
      code: 'ER_OPTION_PREVENTS_STATEMENT',
      errno: 1290,
      sqlState: 'HY000',
    }),
  ],
  ['1290 --super-read-only', driverError('The MySQL server is running with the --super-read-only option', { errno: 1290 })],
  ['1836 ER_READ_ONLY_MODE', driverError('Running in read-only mode', { code: 'ER_READ_ONLY_MODE', errno: 1836 })],
];

for (const [name, classifier] of both) {
  describe(`${name} classification of a failed statement`, () => {
    for (const [what, error] of LOST_MAY_HAVE_RUN) {
      it(`${what}: lost, and the statement may have run`, () => {
        assert.deepEqual(classifier.classifyQueryError(error), { lost: true, mayHaveRun: true });
      });
    }
    for (const [what, error] of LOST_NEVER_SENT) {
      it(`${what}: lost, never ran`, () => {
        assert.deepEqual(classifier.classifyQueryError(error), { lost: true, mayHaveRun: false });
      });
    }
    for (const [what, error] of NOT_LOST) {
      it(`${what}: not a lost connection`, () => {
        assert.deepEqual(classifier.classifyQueryError(error), { lost: false });
      });
    }
    for (const [what, error] of READ_ONLY) {
      it(`${what}: a read-only server, the write refused before running`, () => {
        assert.deepEqual(classifier.classifyQueryError(error), { lost: true, mayHaveRun: false, readOnlyServer: true });
      });
    }
  });
}

describe('what each driver alone tells', () => {
  it('mysql2: an EPIPE is the write of a command failing, so it never reached the server', () => {
    assert.deepEqual(mysqlClassifier.classifyQueryError(socketError('EPIPE', 'write')), { lost: true, mayHaveRun: false });
  });
  it('mysql2: `write ECONNRESET` (a socket reset before the command was written) never reached the server', () => {
    assert.deepEqual(mysqlClassifier.classifyQueryError(socketError('ECONNRESET', 'write')), { lost: true, mayHaveRun: false });
    assert.deepEqual(mysqlClassifier.classifyQueryError(socketError('ECONNRESET', 'read')), { lost: true, mayHaveRun: true });
  });
  it('the connector pipelines commands: a failed write may come after an earlier one was sent: may have run', () => {
    assert.deepEqual(mariadbClassifier.classifyQueryError(socketError('EPIPE', 'write')), { lost: true, mayHaveRun: true });
    assert.deepEqual(mariadbClassifier.classifyQueryError(socketError('ECONNRESET', 'write')), { lost: true, mayHaveRun: true });
  });
  it("mysql2: any fatal error closed the connection; the connector's fatal flag proves nothing", () => {
    const error = driverError('Unexpected packet', { code: 'SOMETHING_NEW', fatal: true });
    assert.deepEqual(mysqlClassifier.classifyQueryError(error), { lost: true, mayHaveRun: true });
    assert.deepEqual(mariadbClassifier.classifyQueryError(error), { lost: false });
  });
});

for (const [name, classifier] of both) {
  describe(`${name} classification of a failed connect`, () => {
    const connectError = (message: string, fields: Parameters<typeof driverError>[1]) =>
      new ConnectionError(Object.assign(new Error(message), fields) as never);
    it('1045 access denied: auth', () => {
      const error = connectError("Access denied for user 'app'@'localhost' (using password: YES)", {
        code: 'ER_ACCESS_DENIED_ERROR',
        errno: 1045,
        sqlState: '28000',
      });
      assert.equal(classifier.classifyConnectError(error), 'auth');
    });
    it('1698 access denied without a password: auth', () => {
      assert.equal(classifier.classifyConnectError(connectError('Access denied', { errno: 1698, sqlState: '28000' })), 'auth');
    });
    const transient: Array<[string, Parameters<typeof driverError>[1]]> = [
      ['ECONNREFUSED (server restarting)', { code: 'ECONNREFUSED' }],
      ['ENOTFOUND (DNS during a failover)', { code: 'ENOTFOUND' }],
      ['1040 too many connections', { code: 'ER_CON_COUNT_ERROR', errno: 1040, sqlState: '08004' }],
      ['1203 max_user_connections', { errno: 1203, sqlState: '42000' }],
      ["1226 the account's MAX_USER_CONNECTIONS", { code: 'ER_USER_LIMIT_REACHED', errno: 1226, sqlState: '42000' }],
      ['connector 45012 connect timeout', { code: 'ER_CONNECTION_TIMEOUT', errno: 45012, sqlState: '08S01' }],
      ['1053 shutdown in progress', { errno: 1053, sqlState: '08S01' }],
      ['PROTOCOL_CONNECTION_LOST during SET time_zone', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }],
      ['connector 45009 during login', { errno: 45009, sqlState: '08S01' }],
      ['ECONNRESET', { code: 'ECONNRESET' }],
    ];
    for (const [what, fields] of transient) {
      it(`${what}: transient`, () => assert.equal(classifier.classifyConnectError(connectError(what, fields)), 'transient'));
    }
    it('1049 unknown database: fatal', () => {
      assert.equal(classifier.classifyConnectError(connectError("Unknown database 'x'", { errno: 1049, sqlState: '42000' })), 'fatal');
    });
  });

  describe(`${name} transaction statements`, () => {
    it('opens a transaction with START TRANSACTION, BEGIN, or SET TRANSACTION (the next transaction only)', () => {
      for (const sql of [
        'START TRANSACTION;',
        'start transaction read only',
        'BEGIN',
        'BEGIN WORK;',
        'SET TRANSACTION ISOLATION LEVEL READ COMMITTED;',
      ])
        assert.equal(classifier.isTransactionStart(sql), true, sql);
      for (const sql of ['SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SELECT 1', 'SAVEPOINT `a`;', 'SET autocommit = 1'])
        assert.equal(classifier.isTransactionStart(sql), false, sql);
    });
    it('knows COMMIT and ROLLBACK', () => {
      assert.equal(classifier.isCommit('COMMIT;'), true);
      assert.equal(classifier.isRollback('ROLLBACK;'), true);
      assert.equal(classifier.isCommit('SELECT 1'), false);
    });
  });
}

describe('the MySQL-family dialects', () => {
  it("are registered for Sequelize's 'mysql' and 'mariadb'", () => {
    assert.equal(dialectFor('mysql').classifier, mysqlClassifier);
    assert.equal(dialectFor('mariadb').classifier, mariadbClassifier);
  });
  it('re-issue the isolation level before a START TRANSACTION moved to a new connection', () => {
    const prelude = dialectFor('mysql').transactionPrelude!;
    const tx = (isolationLevel?: string, parent?: unknown) => ({ id: 't', parent, connection: {}, options: { isolationLevel } });
    assert.equal(prelude('START TRANSACTION;', tx('SERIALIZABLE')), 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;');
    assert.equal(prelude('START TRANSACTION;', tx()), undefined);
    assert.equal(prelude('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;', tx('SERIALIZABLE')), undefined);
    assert.equal(prelude('START TRANSACTION;', tx('SERIALIZABLE; DROP TABLE x')), undefined);
    assert.equal(prelude('START TRANSACTION;', tx('SERIALIZABLE', {})), undefined);
  });
});
