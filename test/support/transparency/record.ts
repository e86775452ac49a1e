import { BaseError, Model } from 'sequelize';
import { ConnectionLostError } from '../../../src';

/** What one step of the workload gave: its value made comparable, or what it threw. */
export interface StepOutcome {
  readonly step: string;
  readonly value?: unknown;
  readonly error?: ErrorShape;
}

/** What application code can see of an error: its class, name, message and Sequelize's fields. */
export interface ErrorShape {
  readonly class: string;
  readonly name: string;
  readonly message: string;
  readonly isSequelizeError: boolean;
  readonly isConnectionLost: boolean;
  readonly parent?: { class: string; code: unknown; message: string } | undefined;
  readonly fields?: unknown;
  readonly table?: unknown;
  readonly index?: unknown;
  readonly sql?: unknown;
  readonly errors?: unknown;
}

export function errorShape(error: unknown): ErrorShape {
  if (!(error instanceof Error))
    return { class: typeof error, name: '', message: String(error), isSequelizeError: false, isConnectionLost: false };
  const e = error as Error & Record<string, unknown>;
  const parent = e['parent'] as (Error & { code?: unknown }) | undefined;
  return {
    class: e.constructor.name,
    name: e.name,
    message: e.message,
    isSequelizeError: e instanceof BaseError,
    isConnectionLost: e instanceof ConnectionLostError,
    parent: parent && { class: parent.constructor.name, code: parent.code, message: parent.message },
    fields: e['fields'],
    table: e['table'],
    index: e['index'],
    sql: typeof e['sql'] === 'string' ? withoutTimestamps(e['sql']) : e['sql'],
    errors: Array.isArray(e['errors'])
      ? (e['errors'] as Array<Record<string, unknown>>).map((x) => ({
          message: x['message'],
          path: x['path'],
          type: x['type'],
          validatorKey: x['validatorKey'],
        }))
      : undefined,
  };
}

/** Timestamps Sequelize wrote into a statement (createdAt, updatedAt) differ between runs. */
function withoutTimestamps(sql: string): string {
  return sql.replace(/'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d\d:\d\d'/g, "'<date>'");
}

/**
 * A value made comparable across two runs: model instances as their plain data, dates (which
 * differ between runs) as a marker, everything else as JSON would have it.
 */
export function comparable(value: unknown): unknown {
  if (value instanceof Model) return comparable(value.get({ plain: true }));
  if (value instanceof Date) return '<date>';
  if (Array.isArray(value)) return value.map(comparable);
  // pg's Result (a raw query's metadata): its fields name table OIDs, which differ between databases.
  if (isPgResult(value)) return { command: value.command, rowCount: value.rowCount, rows: comparable(value.rows) };
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v !== 'function') out[key] = comparable(v);
    }
    return out;
  }
  return value;
}

function isPgResult(value: unknown): value is { command: string; rowCount: number | null; rows: unknown[] } {
  const v = value as Record<string, unknown> | null;
  return typeof v === 'object' && v !== null && typeof v['command'] === 'string' && Array.isArray(v['fields']) && Array.isArray(v['rows']);
}

/** Runs the steps in order and records each outcome; a step that throws is an outcome too. */
export class Recorder {
  readonly outcomes: StepOutcome[] = [];

  async step(step: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      this.outcomes.push({ step, value: comparable(await fn()) });
    } catch (error) {
      this.outcomes.push({ step, error: errorShape(error) });
    }
  }
}
