import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError } from 'sequelize';
import { autoreconnect, ConnectionLostError } from '../../src';
import { statementRetryable, transactionReplayable } from '../../src/core/decide';
import { postgresClassifier } from '../../src/dialects/postgres/classify';
import { isPlainDml } from '../../src/dialects/postgres/dml';
import { validateQueryOption, validateTransactionOption } from '../../src/core/options';
import { GRACE_POLLS, settleStep, type SettleFacts, type SettleStep } from '../../src/core/settle';
import { versionUnsupported } from '../../src/dialects/postgres/outcomes';

/** Drives settleStep the way the engine does, against a scripted server and an injected clock. */
function settleWith(answers: (ended: boolean, now: number) => SettleFacts['status'], deadlineMs: number) {
  let now = 0;
  let sessionEnded = false;
  const steps: SettleStep['action'][] = [];
  for (let polls = 1; polls < 1000; polls++) {
    const step = settleStep({ status: answers(sessionEnded, now), sessionEnded, polls, remainingMs: deadlineMs - now });
    steps.push(step.action);
    if (step.action === 'done') return { outcome: step.outcome, steps, now };
    if (step.action === 'end-session') sessionEnded = true;
    else now += step.ms;
  }
  throw new Error('never settled');
}

describe('settling a lost COMMIT', () => {
  it('takes the server at its word for committed and aborted', () => {
    const facts = { sessionEnded: false, polls: 1, remainingMs: 100 };
    assert.deepEqual(settleStep({ ...facts, status: 'committed' }), { action: 'done', outcome: 'committed' });
    assert.deepEqual(settleStep({ ...facts, status: 'aborted' }), { action: 'done', outcome: 'not-committed' });
    assert.deepEqual(settleStep({ ...facts, status: 'unknown' }), { action: 'done', outcome: 'unknown' });
  });

  it('waits briefly for a COMMIT in flight to finish before ending the old session', () => {
    const run = settleWith((_ended, now) => (now < 15 ? 'in progress' : 'committed'), 1000);
    assert.equal(run.outcome, 'committed');
    assert.ok(!run.steps.includes('end-session'), 'a COMMIT that finishes by itself is not interrupted');
  });

  it('ends the old session after the grace polls when the transaction stays in progress, then reads the final answer', () => {
    const run = settleWith((ended) => (ended ? 'aborted' : 'in progress'), 1000);
    assert.equal(run.outcome, 'not-committed');
    assert.equal(run.steps.indexOf('end-session'), GRACE_POLLS - 1);
    assert.equal(run.steps.filter((s) => s === 'end-session').length, 1);
  });

  it('never reports "not committed" while the transaction is in progress: unknown at the deadline', () => {
    const run = settleWith(() => 'in progress', 300);
    assert.equal(run.outcome, 'unknown');
    assert.ok(run.now >= 300 && run.now < 300 + 200, `stopped at the deadline, not past it (${run.now})`);
  });

  it('bounds each wait by the time left', () => {
    const step = settleStep({ status: 'in progress', sessionEnded: true, polls: 8, remainingMs: 7 });
    assert.deepEqual(step, { action: 'wait', ms: 7 });
  });
});

describe("retryWrites: 'verified'", () => {
  it('retries a write known not to have committed and reports one whose outcome stayed unknown', () => {
    const base = { isRead: false, idempotent: false, retryWrites: 'verified' } as const;
    assert.equal(statementRetryable({ ...base, mayHaveRun: false, commitUnknown: false }), true);
    assert.equal(statementRetryable({ ...base, mayHaveRun: true, commitUnknown: true }), 'commit-outcome-unknown');
    // Raw SQL of several statements runs bare, under the 'unsent' rule.
    assert.equal(statementRetryable({ ...base, mayHaveRun: true, commitUnknown: false }), 'write-may-have-executed');
  });

  it('is accepted by the plugin, a model and a call; anything else is a TypeError naming the option', () => {
    assert.doesNotThrow(() => autoreconnect({ retryWrites: 'verified' }));
    assert.deepEqual(validateQueryOption({ retryWrites: 'verified' }), {
      retries: undefined,
      idempotent: undefined,
      retryWrites: 'verified',
    });
    assert.throws(
      () => validateQueryOption({ retryWrites: 'verify' }),
      (e: unknown) => e instanceof TypeError && /query option `reconnect.retryWrites` must be one of 'unsent', 'verified'/.test(e.message),
    );
  });

  it('wraps only plain row writes among raw statements', () => {
    for (const sql of ['INSERT INTO t VALUES (1)', '  update t set a = 1', 'DELETE FROM t', 'MERGE INTO t USING s ON true'])
      assert.ok(isPlainDml(sql), sql);
    for (const sql of ['VACUUM t', 'CREATE INDEX CONCURRENTLY i ON t (a)', 'SELECT 1', 'WITH x AS (SELECT 1) SELECT * FROM x'])
      assert.ok(!isPlainDml(sql), sql);
  });

  it('never wraps raw SQL holding several statements: a later COMMIT or VACUUM would end or break the transaction', () => {
    const single = [
      'INSERT INTO t VALUES (1);',
      'INSERT INTO t VALUES (1) ;  \n  -- done\n /* really */ ;',
      "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
      'INSERT INTO "odd;name" VALUES (1)',
      "INSERT INTO t VALUES (E'a\\';b')",
      'INSERT INTO t VALUES ($$x; COMMIT$$, $fn$y;$fn$)',
      'UPDATE t SET a = $1 WHERE b = $2;',
      'DELETE FROM t /* a; /* nested; */ comment */ WHERE a = 1',
      'INSERT INTO t VALUES (1) -- trailing; comment',
      'INSERT INTO t$1 VALUES (1)',
    ];
    for (const sql of single) assert.ok(isPlainDml(sql), sql);
    const several = [
      'INSERT INTO t VALUES (1); COMMIT',
      'INSERT INTO t VALUES (1);VACUUM t',
      "INSERT INTO t VALUES ('a');'",
      'INSERT INTO t VALUES (1); -- first\nDELETE FROM t',
      "INSERT INTO t VALUES ('a\\'); COMMIT; --')",
      'INSERT INTO t VALUES ($$x$$); $$y$$',
      "INSERT INTO t VALUES ('never closed; COMMIT",
      'INSERT INTO t VALUES ($tag$never closed; COMMIT',
      'INSERT INTO t VALUES (1) /* never closed; COMMIT',
    ];
    for (const sql of several) assert.ok(!isPlainDml(sql), sql);
  });
});

describe('replaying managed transactions', () => {
  it('replays on conflicts only for serialization failures and deadlocks', () => {
    const pg = (code: string) => Object.assign(new Error('x'), { code });
    const wrapped = (code: string) => Object.assign(new Error('wrapped'), { original: pg(code), parent: pg(code) });
    assert.ok(postgresClassifier.isConflict(wrapped('40001')));
    assert.ok(postgresClassifier.isConflict(pg('40P01')));
    assert.ok(!postgresClassifier.isConflict(pg('23505')));
    assert.ok(!postgresClassifier.isConflict(new Error('Connection terminated unexpectedly')));
  });

  it('replays a lost transaction only when it certainly did not commit', () => {
    assert.equal(transactionReplayable({ transactionLost: true, committed: false }), true);
    assert.equal(transactionReplayable({ transactionLost: true, committed: undefined }), false);
    assert.equal(transactionReplayable({ transactionLost: false, committed: false }), false);
  });

  it('takes its options with a TypeError naming the option', () => {
    assert.throws(() => autoreconnect({ replayConflicts: 'yes' } as never), /option `replayConflicts` must be a boolean/);
    assert.throws(
      () => validateTransactionOption({ conflict: true }),
      /unknown transaction option `reconnect.conflict` \(did you mean `reconnect.conflicts`\?\)/,
    );
    assert.deepEqual(validateTransactionOption({ replay: true }), { replay: true, conflicts: undefined });
  });
});

describe('ConnectionLostError.committed', () => {
  const lost = (mayHaveExecuted: boolean, committed?: boolean) =>
    new ConnectionLostError(new Error('gone'), {
      phase: 'query',
      mayHaveExecuted,
      committed,
      transactionLost: false,
      attempts: 1,
      reason: 'retries-exhausted',
    });
  it('is false when nothing may have run, true or false when confirmed, absent when unknown', () => {
    assert.equal(lost(false).committed, false);
    assert.equal(lost(true).committed, undefined);
    assert.equal(lost(true, true).committed, true);
    assert.equal(lost(true, false).committed, false);
    assert.ok(lost(true) instanceof ConnectionError);
  });
});

describe('the server version definite outcomes need', () => {
  it('refuses PostgreSQL before 13 (no pg_current_xact_id / pg_xact_status), naming the version', () => {
    assert.equal(versionUnsupported(130000, '13.0'), undefined);
    assert.equal(versionUnsupported(180001, '18.1'), undefined);
    assert.equal(
      versionUnsupported(120017, '12.17 (Debian 12.17-1)'),
      'PostgreSQL 13 or later is needed; this server is PostgreSQL 12.17 (Debian 12.17-1) (server_version_num 120017)',
    );
  });
});
