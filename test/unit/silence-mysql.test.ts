import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyQueryError, mariadbClassifier } from '../../src/dialects/mysql/classify';
import { connectVerdict, rowVerdict } from '../../src/dialects/mysql/silence';

describe('what information_schema.PROCESSLIST says of a silent MySQL/MariaDB session', () => {
  // As the check reads them: every value as text (CAST … AS CHAR), a missing session as NULLs.
  const row = (fields: Record<string, unknown>) => ({ me: '11', id: '22', command: 'Query', time: '3', since: '1000', ...fields });
  const gone = { me: '11', id: null, command: null, time: null, since: null };

  it('working on the same statement: running; on another, idle, killed or gone: lost', () => {
    assert.deepEqual(rowVerdict(row({}), 11, undefined, 1000), { state: 'running', started: '1000' });
    assert.deepEqual(rowVerdict(row({ command: 'Execute' }), 11, '1000', 1000), { state: 'running', started: '1000' });
    assert.equal(rowVerdict(row({ since: '1005' }), 11, '1000', 1000).state, 'lost');
    assert.equal(rowVerdict(row({ command: 'Sleep', time: '2' }), 11, undefined, 1000).state, 'lost');
    assert.equal(rowVerdict(row({ command: 'Sleep', time: '1' }), 11, '1000', 1000).state, 'lost');
    assert.equal(rowVerdict(row({ command: 'Killed' }), 11, undefined, 1000).state, 'lost');
    assert.equal(rowVerdict(gone, 11, undefined, 1000).state, 'lost');
  });

  it('one statement seen twice is one statement, whatever the whole seconds did to its start', () => {
    // Started at 999.9, checked at 1001.0 (TIME 1: since 1000) and at 1002.95 (TIME 3: since 999): estimates 1 apart.
    assert.equal(rowVerdict(row({ since: '999' }), 11, '1000', 1000).state, 'running');
    assert.equal(rowVerdict(row({ since: '1001' }), 11, '1000', 1000).state, 'running');
    assert.equal(rowVerdict(row({ since: '1002' }), 11, '1000', 1000).state, 'lost');
  });

  it('never lost on doubt: just gone idle, an unknown command, or behind a proxy', () => {
    assert.equal(rowVerdict(row({ command: 'Sleep', time: '0' }), 11, undefined, 1000).state, 'unknown');
    assert.equal(rowVerdict(row({ command: 'Some future command' }), 11, undefined, 1000).state, 'running');
    assert.equal(rowVerdict(row({ me: '99' }), 11, undefined, 1000).state, 'pooled');
    assert.equal(rowVerdict(undefined, 11, undefined, 1000).state, 'unknown');
  });

  it('a refusal for too many connections is proof of life; an unreachable server is a lost session', () => {
    assert.equal(connectVerdict({ errno: 1040, code: 'ER_CON_COUNT_ERROR', message: 'Too many connections' }).state, 'alive');
    assert.equal(
      connectVerdict({ errno: 1226, code: 'ER_USER_LIMIT_REACHED', message: "User 'u' has exceeded the 'max_user_connections'" }).state,
      'alive',
    );
    assert.equal(connectVerdict({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:3306' }).state, 'lost');
    assert.equal(connectVerdict({ code: 'ETIMEDOUT', message: 'connect ETIMEDOUT' }).state, 'lost');
    assert.equal(connectVerdict({ errno: 45012, code: 'ER_CONNECTION_TIMEOUT', message: 'Connection timeout' }).state, 'lost');
    assert.equal(connectVerdict({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR', message: "Access denied for user 'u'" }).state, 'unknown');
  });

  it("the watchdog's cut is a lost connection to the connector too (it passes the error on as is)", () => {
    const cut = Object.assign(
      new Error('Connection terminated unexpectedly: no answer for 2000 ms and its session is idle (sequelize-autoreconnect)'),
      {
        fatal: true,
        sqlState: 'HY000',
      },
    );
    assert.deepEqual(classifyQueryError(cut, { dialect: 'mariadb', trustFatal: false, writeFailureNeverSent: false }), {
      lost: true,
      mayHaveRun: true,
    });
    assert.deepEqual(mariadbClassifier.classifyQueryError(cut), { lost: true, mayHaveRun: true });
  });
});
