/**
 * The errors pgbouncer 1.18 and HAProxy 2.6 actually produced in test/postgres/infra (pg 8.23 on the
 * client), classified. Messages, SQLSTATEs and severities are copied from what pg reported.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, DatabaseError } from 'sequelize';
import { classifyConnectError, classifyQueryError } from '../../src/dialects/postgres/classify';

/** pg's error for an ErrorResponse, as pgbouncer sends them: SQLSTATE 08P01, severity FATAL. */
function pooler(message: string): Error {
  return Object.assign(new Error(message), { name: 'error', code: '08P01', severity: 'FATAL' });
}

/** How Sequelize's Query wraps a failed statement. */
const underStatement = (driver: Error) => new DatabaseError(Object.assign(driver, { sql: 'INSERT INTO "items" …' }) as never);
/** How Sequelize's connection manager wraps a failed login. */
const atLogin = (driver: Error) => new ConnectionError(driver);

describe('pgbouncer errors under a statement', () => {
  const neverRan: Array<[string, string]> = [
    ['client_idle_timeout: an idle client closed (transaction pooling)', 'client_idle_timeout'],
    ['query_wait_timeout: no server connection came in time', 'query_wait_timeout'],
    ['server_login_retry: the server is down, clients fail fast', 'server login has been failing, try again later (server_login_retry)'],
    ['max_client_conn reached', 'no more connections allowed (max_client_conn)'],
  ];
  for (const [what, message] of neverRan) {
    it(`${what}: lost, and the statement never reached a server`, () => {
      assert.deepEqual(classifyQueryError(underStatement(pooler(message))), { lost: true, mayHaveRun: false });
    });
  }

  const mayHaveRun: Array<[string, string]> = [
    ['`KILL db` on the admin console', 'database removed'],
    ['the server connection died (terminated backend, server shutdown)', 'server conn crashed?'],
  ];
  for (const [what, message] of mayHaveRun) {
    it(`${what}: lost, and the statement may have run`, () => {
      assert.deepEqual(classifyQueryError(underStatement(pooler(message))), { lost: true, mayHaveRun: true });
    });
  }

  it('57P01 forwarded from the server (pg_terminate_backend behind pgbouncer): lost, may have run', () => {
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
    });
    assert.deepEqual(classifyQueryError(underStatement(terminated)), { lost: true, mayHaveRun: true });
  });

  it('a connection closed by HAProxy or a pgbouncer restart ("Connection terminated unexpectedly"): lost, may have run', () => {
    assert.deepEqual(classifyQueryError(underStatement(new Error('Connection terminated unexpectedly'))), { lost: true, mayHaveRun: true });
  });
});

describe('pgbouncer errors while connecting', () => {
  const transient = [
    'server login has been failing, try again later (server_login_retry)',
    'query_wait_timeout',
    'no more connections allowed (max_client_conn)',
    'database removed',
  ];
  for (const message of transient) {
    it(`"${message}": transient`, () => {
      assert.equal(classifyConnectError(atLogin(pooler(message))), 'transient');
    });
  }

  it('server_login_retry raised by the first statement Sequelize runs on a new connection (pg error, unwrapped): transient', () => {
    assert.equal(classifyConnectError(pooler('server login has been failing, try again later (server_login_retry)')), 'transient');
  });

  // pgbouncer rejects a wrong password with 08P01, where PostgreSQL says 28P01. It is a
  // credentials problem all the same: retried only after a hook could have refreshed them.
  it('"password authentication failed" (auth_type plain or md5, SQLSTATE 08P01): auth, not transient', () => {
    assert.equal(classifyConnectError(atLogin(pooler('password authentication failed'))), 'auth');
  });

  it('"SASL authentication failed" (auth_type scram-sha-256, SQLSTATE 08P01): auth, not transient', () => {
    assert.equal(classifyConnectError(atLogin(pooler('SASL authentication failed'))), 'auth');
  });

  it("PostgreSQL's own 28P01 stays auth", () => {
    const direct = Object.assign(new Error('password authentication failed for user "rot"'), { code: '28P01', severity: 'FATAL' });
    assert.equal(classifyConnectError(atLogin(direct)), 'auth');
  });
});
