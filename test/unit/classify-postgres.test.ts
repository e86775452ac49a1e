import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, ConnectionRefusedError, DatabaseError } from 'sequelize';
import { dialectFor } from '../../src/dialects';
import { classifyConnectError, classifyQueryError, postgresClassifier as postgres } from '../../src/dialects/postgres/classify';

/** A pg error as node-postgres builds it, wrapped by Sequelize the way Query.formatError does. */
function pgError(message: string, fields: { code?: string; severity?: string } = {}): DatabaseError {
  const original = Object.assign(new Error(message), fields, { sql: 'SELECT 1' });
  return new DatabaseError(original as never);
}

function systemError(code: string): Error {
  return Object.assign(new Error(`read ${code}`), { code, errno: -1, syscall: 'read' });
}

describe('PostgreSQL classification of a failed statement', () => {
  const lostMayHaveRun: Array<[string, unknown]> = [
    [
      '57P01 admin shutdown (pg_terminate_backend)',
      pgError('terminating connection due to administrator command', { code: '57P01', severity: 'FATAL' }),
    ],
    [
      '57P02 crash shutdown',
      pgError('terminating connection because of crash of another server process', { code: '57P02', severity: 'FATAL' }),
    ],
    ['08006 connection failure', pgError('connection failure', { code: '08006' })],
    ['08P01 from pgbouncer ("server conn crashed?")', pgError('server conn crashed?', { code: '08P01', severity: 'FATAL' })],
    ['08003 connection does not exist', pgError('connection does not exist', { code: '08003' })],
    ['any FATAL', pgError('terminating connection due to conflict with recovery', { code: '40001', severity: 'FATAL' })],
    ['PANIC', pgError('something awful', { code: 'XX000', severity: 'PANIC' })],
    ['ECONNRESET (a load balancer that forgot the connection)', new DatabaseError(systemError('ECONNRESET') as never)],
    ['EPIPE', new DatabaseError(systemError('EPIPE') as never)],
    ['ETIMEDOUT', new DatabaseError(systemError('ETIMEDOUT') as never)],
    ['"Connection terminated unexpectedly"', pgError('Connection terminated unexpectedly')],
    ['"Connection terminated" (ended while running)', pgError('Connection terminated')],
    [
      '25P03 idle-in-transaction timeout',
      pgError('terminating connection due to idle-in-transaction timeout', { code: '25P03', severity: 'FATAL' }),
    ],
    ['an unwrapped driver error', systemError('ECONNRESET')],
  ];
  for (const [what, error] of lostMayHaveRun) {
    it(`${what}: lost, and the statement may have run`, () => {
      assert.deepEqual(classifyQueryError(error), { lost: true, mayHaveRun: true });
    });
  }

  const lostNeverRan: Array<[string, unknown]> = [
    ['pg refusing a broken client', pgError('Client has encountered a connection error and is not queryable')],
    ['pg refusing a closed client', pgError('Client was closed and is not queryable')],
    ['57P05 idle-session timeout', pgError('terminating connection due to idle-session timeout', { code: '57P05', severity: 'FATAL' })],
    ["pgbouncer's client_idle_timeout", pgError('client_idle_timeout', { code: '08P01', severity: 'FATAL' })],
    ["pgbouncer's failure to reach a server", pgError('pgbouncer cannot connect to server', { code: '08P01', severity: 'ERROR' })],
  ];
  for (const [what, error] of lostNeverRan) {
    it(`${what}: lost, and the statement never ran`, () => {
      assert.deepEqual(classifyQueryError(error), { lost: true, mayHaveRun: false });
    });
  }

  it('25006 read-only transaction (a primary that failed over to standby): never ran, and the server is read-only', () => {
    assert.deepEqual(
      classifyQueryError(pgError('cannot execute INSERT in a read-only transaction', { code: '25006', severity: 'ERROR' })),
      {
        lost: true,
        mayHaveRun: false,
        readOnlyServer: true,
      },
    );
  });

  const notLost: Array<[string, unknown]> = [
    [
      '57014 query cancelled (the connection lives)',
      pgError('canceling statement due to statement timeout', { code: '57014', severity: 'ERROR' }),
    ],
    ['40001 serialization failure', pgError('could not serialize access', { code: '40001', severity: 'ERROR' })],
    ['40P01 deadlock', pgError('deadlock detected', { code: '40P01', severity: 'ERROR' })],
    ['23505 unique violation', pgError('duplicate key value violates unique constraint', { code: '23505', severity: 'ERROR' })],
    ['42601 syntax error', pgError('syntax error at or near "SELEC"', { code: '42601', severity: 'ERROR' })],
    ["pg's own query_timeout", pgError('Query read timeout')],
    ['a thrown string', 'boom'],
    ['null', null],
  ];
  for (const [what, error] of notLost) {
    it(`${what}: not a lost connection`, () => {
      assert.deepEqual(classifyQueryError(error), { lost: false });
    });
  }
});

describe('PostgreSQL classification of a failure to connect', () => {
  const cases: Array<[string, unknown, 'transient' | 'auth' | 'fatal']> = [
    ['ECONNREFUSED (server down)', new ConnectionRefusedError(systemError('ECONNREFUSED') as never), 'transient'],
    [
      '57P03 starting up',
      new ConnectionError(pgError('the database system is starting up', { code: '57P03', severity: 'FATAL' }).original),
      'transient',
    ],
    [
      '53300 too many connections',
      new ConnectionError(pgError('sorry, too many clients already', { code: '53300', severity: 'FATAL' }).original),
      'transient',
    ],
    ['terminated during startup', new ConnectionError(new Error('Connection terminated unexpectedly')), 'transient'],
    ['pg connectionTimeoutMillis', new ConnectionError(new Error('Connection terminated due to connection timeout')), 'transient'],
    ['ECONNRESET while connecting', new ConnectionError(systemError('ECONNRESET')), 'transient'],
    ['DNS lookup failure during failover', new ConnectionError(systemError('ENOTFOUND')), 'transient'],
    [
      '28P01 bad password',
      new ConnectionError(pgError('password authentication failed for user "app"', { code: '28P01', severity: 'FATAL' }).original),
      'auth',
    ],
    ['28000 no pg_hba entry', new ConnectionError(pgError('no pg_hba.conf entry', { code: '28000', severity: 'FATAL' }).original), 'auth'],
    [
      '3D000 unknown database',
      new ConnectionError(pgError('database "nope" does not exist', { code: '3D000', severity: 'FATAL' }).original),
      'fatal',
    ],
    ['a pool acquire timeout', new Error('ResourceRequest timed out'), 'fatal'],
    // Sequelize sends its session settings on the raw client: pg's errors arrive unwrapped.
    [
      "session ended under Sequelize's SET statements",
      new Error('Client has encountered a connection error and is not queryable'),
      'transient',
    ],
    [
      "backend terminated under Sequelize's SET statements",
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' }),
      'transient',
    ],
    ['a syntax error in a SET statement', Object.assign(new Error('syntax error'), { code: '42601', severity: 'ERROR' }), 'fatal'],
  ];
  for (const [what, error, expected] of cases) {
    it(`${what}: ${expected}`, () => {
      assert.equal(classifyConnectError(error), expected);
    });
  }
});

describe('PostgreSQL transaction statements', () => {
  it('recognises the statements that open, commit and roll back', () => {
    assert.ok(postgres.isTransactionStart('START TRANSACTION;'));
    assert.ok(postgres.isTransactionStart('BEGIN'));
    assert.ok(!postgres.isTransactionStart('SAVEPOINT "x";'));
    assert.ok(postgres.isCommit('COMMIT;'));
    assert.ok(!postgres.isCommit('COMMITTED'));
    assert.ok(postgres.isRollback('ROLLBACK;'));
    assert.ok(postgres.isRollback('ROLLBACK TO SAVEPOINT "x";'));
    assert.ok(!postgres.isRollback('SELECT 1'));
  });
});

describe('dialect support', () => {
  it('names the dialect it does not support yet', () => {
    assert.throws(() => dialectFor('mssql'), /does not support the 'mssql' dialect yet \(supported: postgres, mysql, mariadb\)/);
    assert.throws(() => dialectFor('toString'), /does not support the 'toString' dialect/);
  });
});
