/**
 * The properties a chaos run must keep, checked on what every operation of an instance with the
 * plugin recorded, and on the rows it left in the database.
 */
import { ConnectionError, DatabaseError } from 'sequelize';
import { ConnectionLostError } from '../../../src';
import type { OpRecord } from './workload';

export type Invariant =
  | '1 error type'
  | '2 uncaught'
  | '3 deadline'
  | '3 after close'
  | '4 pool'
  | '5 rows'
  /** Not one of the four, but asked by the issue: `reason` and the other fields tell the truth. */
  | 'fields';

export interface Violation {
  readonly invariant: Invariant;
  readonly message: string;
  readonly error?: { readonly name: string; readonly message: string; readonly stack: string | undefined } | undefined;
}

export function violation(invariant: Invariant, message: string, error?: unknown): Violation {
  return { invariant, message, error: error === undefined ? undefined : describeError(error) };
}

export function describeError(error: unknown): { name: string; message: string; stack: string | undefined } {
  if (!(error instanceof Error)) return { name: typeof error, message: String(error), stack: undefined };
  const parent = (error as { parent?: unknown }).parent;
  if (!(parent instanceof Error) || parent === error) return { name: error.name, message: error.message, stack: error.stack };
  const { code } = parent as { code?: string | number };
  return {
    name: error.name,
    message: `${error.message}\nparent: ${parent.name}${code === undefined ? '' : ` ${code}`}: ${parent.message}`,
    stack: `${error.stack ?? ''}\ncaused by: ${parent.stack ?? ''}`,
  };
}

/** Sequelize's own errors for an instance being closed: expected by operations that were running then. */
const CLOSED_MESSAGES = ['was called after the connection manager was closed', 'pool is draining and cannot accept work'];

export function isClosedError(error: unknown): boolean {
  return error instanceof Error && CLOSED_MESSAGES.some((m) => error.message.includes(m));
}

function isDivisionByZero(error: unknown): boolean {
  return error instanceof DatabaseError && (error.parent as { code?: string }).code === '22012';
}

export interface Limits {
  readonly deadlineMs: number;
  readonly retries: number;
  /** Allowance on top of the deadline: the machine, a validation round trip. */
  readonly slackMs: number;
  /** How long the network withheld answers during [start, end]: excused, the plugin cannot see it. */
  readonly heldDuring: (start: number, end: number) => number;
}

/** Invariants 1 and 3 and the truth of the fields, for one operation of an instance with the plugin. */
export function checkOperation(op: OpRecord, limits: Limits): Violation[] {
  const where = `${op.instance} ${op.kind}${op.tags.length ? ` [${op.tags.join(', ')}]` : ''}`;
  const out: Violation[] = [];
  if (op.endedAt === undefined) return [violation('3 deadline', `${where} never settled`)];
  const took = op.endedAt - op.startedAt;
  // A transaction is several operations: acquiring its connection and its BEGIN each have a deadline.
  const deadlines = op.kind === 'transaction' ? 2 : 1;
  const held = limits.heldDuring(op.startedAt, op.endedAt);
  const limit = deadlines * limits.deadlineMs + held + limits.slackMs;
  if (took > limit) {
    const parts = `${deadlines} x deadline ${limits.deadlineMs} + held ${Math.round(held)} + slack ${limits.slackMs}`;
    out.push(violation('3 deadline', `${where} took ${Math.round(took)} ms, more than ${Math.round(limit)} ms (${parts})`, op.error));
  }
  if (op.ok !== false) return out;
  const error = op.error;
  if (error instanceof ConnectionLostError) {
    out.push(...checkFields(error, op, where, took, limits));
    return out;
  }
  if (op.kind === 'bad-statement' && isDivisionByZero(error)) return out;
  if (op.settledAfterClose && isClosedError(error)) return out;
  const what = error instanceof ConnectionError ? 'a ConnectionError that is not a ConnectionLostError' : 'not a ConnectionError';
  out.push(violation('1 error type', `${where}: the caller got ${what}`, error));
  return out;
}

function checkFields(error: ConnectionLostError, op: OpRecord, where: string, took: number, limits: Limits): Violation[] {
  const out: Violation[] = [];
  const says = `${where}: ConnectionLostError reason ${error.reason}, phase ${error.phase}, attempts ${error.attempts}`;
  if (!(error instanceof ConnectionError)) out.push(violation('1 error type', `${says} is not a ConnectionError`, error));
  if (error.phase === 'connect' && error.mayHaveExecuted)
    out.push(violation('fields', `${says}: mayHaveExecuted in the connect phase`, error));
  if (error.transactionLost && op.kind !== 'transaction')
    out.push(violation('fields', `${says}: transactionLost outside a transaction`, error));
  if (error.reason === 'closed' && !op.settledAfterClose) out.push(violation('fields', `${says} while the instance was open`, error));
  if (error.reason === 'in-transaction' && !error.transactionLost) out.push(violation('fields', `${says}: transactionLost false`, error));
  if (error.reason === 'retries-exhausted' && error.attempts <= limits.retries) {
    out.push(violation('fields', `${says}: "retries-exhausted" after ${error.attempts - 1} of ${limits.retries} retries`, error));
  }
  // The deadline counts from the first failure, which comes after the call.
  if (error.reason === 'deadline-exceeded' && took < limits.deadlineMs - 20) {
    out.push(
      violation('fields', `${says}: "deadline-exceeded" ${Math.round(took)} ms after the call, deadline ${limits.deadlineMs} ms`, error),
    );
  }
  return out;
}

/**
 * Invariant 5 on the rows: no write duplicated; a success has its row; a write reported failed
 * with mayHaveExecuted false did not run; a transaction is all or nothing; an upserted key holds
 * a value some upsert that may have run wrote.
 */
export function auditRows(ops: readonly OpRecord[], counts: ReadonlyMap<string, number>, finals: ReadonlyMap<string, number>): Violation[] {
  const out: Violation[] = [];
  for (const op of ops) {
    if (op.tags.length === 0 || op.ok === undefined) continue;
    const ns = op.tags.map((t) => counts.get(t) ?? 0);
    const where = `${op.instance} ${op.kind} [${op.tags.join(', ')}] rows ${ns.join('/')}`;
    const told = op.ok ? 'succeeded' : describeOutcome(op.error);
    if (ns.some((n) => n > 1)) out.push(violation('5 rows', `${where}: duplicated (${told})`, op.error));
    if (new Set(ns).size > 1) out.push(violation('5 rows', `${where}: a transaction committed in part (${told})`, op.error));
    if (op.ok && ns.some((n) => n !== 1)) out.push(violation('5 rows', `${where}: reported ok but not there`));
    const cle = !op.ok && op.error instanceof ConnectionLostError ? op.error : undefined;
    if (!op.ok && ns.some((n) => n > 0)) {
      if (!cle?.mayHaveExecuted || cle.committed === false)
        out.push(violation('5 rows', `${where}: reported failed (${told}) yet committed`, op.error));
    }
    if (cle?.committed === true && ns.some((n) => n !== 1))
      out.push(violation('5 rows', `${where}: reported committed but not there`, op.error));
  }
  const byKey = new Map<string, OpRecord[]>();
  for (const op of ops) if (op.kind === 'upsert' && op.ok !== undefined) byKey.set(op.key!, [...(byKey.get(op.key!) ?? []), op]);
  for (const [key, upserts] of byKey) {
    const lastOk = upserts.filter((u) => u.ok).at(-1);
    const possible = new Set(upserts.filter((u) => !u.ok && mayHaveRun(u.error)).map((u) => u.value));
    if (lastOk) possible.add(lastOk.value);
    const final = finals.get(key);
    if (final === undefined ? lastOk !== undefined : !possible.has(final)) {
      out.push(violation('5 rows', `upserted key ${key} holds ${final}; possible: ${[...possible].join(', ') || 'nothing'}`));
    }
  }
  return out;
}

/** Anything but a ConnectionLostError that rules it out may have run. */
function mayHaveRun(error: unknown): boolean {
  return !(error instanceof ConnectionLostError) || error.mayHaveExecuted;
}

function describeOutcome(error: unknown): string {
  if (error instanceof ConnectionLostError)
    return `ConnectionLostError ${error.reason}, mayHaveExecuted ${error.mayHaveExecuted}, committed ${String(error.committed)}`;
  return error instanceof Error ? `${error.name}: ${error.message.slice(0, 80)}` : String(error);
}
