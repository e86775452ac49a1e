import assert from 'node:assert/strict';
import { ForeignKeyConstraintError, UniqueConstraintError, type Sequelize } from 'sequelize';

type Failure = Error & Record<string, unknown>;

/**
 * Runs `fn`, collecting every uncaught exception meanwhile (the test runner's own listener would
 * otherwise fail some unrelated test with it), and for a short while after it settled: a throw
 * inside a driver's callback surfaces there, not as the caller's rejection.
 */
export async function uncaughtDuring<T>(fn: () => Promise<T>): Promise<{ uncaught: unknown[]; value?: T; error?: unknown }> {
  const uncaught: unknown[] = [];
  const listener = (error: unknown) => void uncaught.push(error);
  const before = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', listener);
  try {
    // Bounded: a caller whose promise never settles (its error thrown elsewhere) fails the test.
    let timer: NodeJS.Timeout | undefined;
    const never = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the call never settled')), 15_000);
    });
    try {
      const value = await Promise.race([fn(), never]);
      return { uncaught, value };
    } catch (error) {
      if (error instanceof Error && error.message === 'the call never settled') throw Object.assign(error, { uncaught });
      return { uncaught, error };
    } finally {
      clearTimeout(timer);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    process.removeListener('uncaughtException', listener);
    for (const l of before) process.on('uncaughtException', l);
  }
}

/**
 * The error `run` fails with on a bare instance and on one with the plugin, called from the same
 * line (so that their stacks can be compared whole), and the uncaught exceptions meanwhile.
 */
export async function errorsBareAndPlugin(
  bare: Sequelize,
  plugin: Sequelize,
  run: (s: Sequelize) => Promise<unknown>,
): Promise<{ bare: Failure; plugin: Failure; uncaught: unknown[] }> {
  const failures: Failure[] = [];
  const uncaught: unknown[] = [];
  for (const s of [bare, plugin]) {
    const result = await uncaughtDuring(() => run(s));
    uncaught.push(...result.uncaught);
    if (!('error' in result)) throw new Error(`expected a failure ${s === bare ? 'bare' : 'with the plugin'}, got a result`);
    failures.push(result.error as Failure);
  }
  return { bare: failures[0]!, plugin: failures[1]!, uncaught };
}

type Both = (run: (s: Sequelize) => Promise<unknown>) => Promise<{ bare: Failure; plugin: Failure; uncaught: unknown[] }>;

/** The plugin's error is bare Sequelize's: no uncaught exception, the same class and the same stack. */
export function assertAsBare({ bare, plugin, uncaught }: { bare: Failure; plugin: Failure; uncaught: unknown[] }): void {
  assert.deepEqual(uncaught, []);
  assert.equal(plugin.constructor, bare.constructor);
  assert.equal(plugin.stack, bare.stack);
}

/**
 * A unique and a foreign key violation (tables `owners (id, email UNIQUE)` holding
 * `(1, 'a@example.com')`, and `pets (id, owner REFERENCES owners)`): their classes and fields.
 */
export async function assertConstraintErrorsAsBare(both: Both): Promise<void> {
  const unique = await both((s) => s.query("INSERT INTO owners VALUES (2, 'a@example.com')"));
  assert.ok(unique.plugin instanceof UniqueConstraintError);
  assert.deepEqual([unique.plugin.message, unique.plugin['fields']], [unique.bare.message, unique.bare['fields']]);
  const foreign = await both((s) => s.query('INSERT INTO pets VALUES (1, 99)'));
  assert.ok(foreign.plugin instanceof ForeignKeyConstraintError);
  assert.deepEqual([foreign.plugin['index'], foreign.plugin['table']], [foreign.bare['index'], foreign.bare['table']]);
  assertAsBare(unique);
  assertAsBare(foreign);
}
