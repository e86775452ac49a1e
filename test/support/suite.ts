/** Suite-scoped resources: made in the enclosing describe()'s before(), closed in its after(). */
import { after, before } from 'node:test';

interface Closable {
  close(): Promise<unknown>;
}

/**
 * Registers before()/after() on the suite being declared and returns a stand-in for what
 * `make` resolves to: the resource does not exist yet while the suite is declared, so the
 * stand-in forwards every property read to it once before() has run (and throws before that).
 * `closeWith` names instances (made by the tests) that its close() ends too.
 */
export function useInSuite<T extends object, A extends unknown[]>(
  make: () => Promise<T & { close(...args: A): Promise<unknown> }>,
  closeWith?: () => A,
): T & Closable {
  let value: (T & { close(...args: A): Promise<unknown> }) | undefined;
  before(async () => {
    value = await make();
  });
  after(async () => {
    await value?.close(...(closeWith?.() ?? ([] as unknown as A)));
  });
  return new Proxy({} as T & Closable, {
    get: (_, key) => {
      if (!value) throw new Error(`read '${String(key)}' of a suite fixture before its before() ran`);
      const property = Reflect.get(value, key) as unknown;
      return typeof property === 'function' ? (property as (...args: unknown[]) => unknown).bind(value) : property;
    },
  });
}
