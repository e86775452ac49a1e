/**
 * Which writes may be retried after the connection was lost under them.
 * - `'unsent'`: only when the statement certainly never reached the server.
 * - `'always'`: also when it may have run (at-least-once: it may then run twice).
 * - `'never'`: never retry a write; reads are still retried.
 */
export type RetryWrites = 'unsent' | 'always' | 'never';

export interface BackoffOptions {
  /**
   * Upper bound of the first delay. Delays grow as `baseMs * 2^(attempt-1)` with full jitter.
   * @default 100
   */
  baseMs?: number;
  /**
   * Cap on any single delay.
   * @default 2000
   */
  maxMs?: number;
}

export interface AutoReconnectOptions {
  /**
   * How many times one operation (a query, or acquiring a connection) is retried after a
   * lost or refused connection. `0` still evicts dead connections and reports typed errors.
   * @default 1
   */
  retries?: number;
  /** Delay between retries: exponential with full jitter. */
  backoff?: BackoffOptions;
  /**
   * Time budget in milliseconds for one operation's retries, counted from its first failure.
   * No retry starts, and no wait for a new connection lasts, past it.
   * @default 10000
   */
  deadlineMs?: number;
  /**
   * Whether a write whose connection was lost is retried. Reads are always retried.
   * @default 'unsent'
   */
  retryWrites?: RetryWrites;
}

export interface ResolvedOptions {
  readonly retries: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly deadlineMs: number;
  readonly retryWrites: RetryWrites;
}

/** Largest delay `setTimeout` honours. */
const MAX_MS = 2 ** 31 - 1;
const MAX_RETRIES = 1000;
const RETRY_WRITES: readonly RetryWrites[] = ['unsent', 'always', 'never'];
const TOP_KEYS = ['retries', 'backoff', 'deadlineMs', 'retryWrites'] as const;
const BACKOFF_KEYS = ['baseMs', 'maxMs'] as const;

/** Validates user options once, at `autoreconnect()` time, and fills the defaults. */
export function resolveOptions(input: unknown): ResolvedOptions {
  const options = plainObject(input === undefined ? {} : input, 'options');
  rejectUnknownKeys(options, TOP_KEYS, '');
  const backoff = plainObject(options['backoff'] === undefined ? {} : options['backoff'], 'backoff');
  rejectUnknownKeys(backoff, BACKOFF_KEYS, 'backoff.');

  const baseMs = number(backoff['baseMs'], 'backoff.baseMs', 0, MAX_MS) ?? 100;
  const maxMs = number(backoff['maxMs'], 'backoff.maxMs', 0, MAX_MS) ?? Math.max(2000, baseMs);
  if (maxMs < baseMs) {
    throw new TypeError(`sequelize-autoreconnect: option \`backoff.maxMs\` (${maxMs}) must not be smaller than \`backoff.baseMs\` (${baseMs})`);
  }
  const retryWrites = options['retryWrites'] ?? 'unsent';
  if (!RETRY_WRITES.includes(retryWrites as RetryWrites)) {
    throw new TypeError(
      `sequelize-autoreconnect: option \`retryWrites\` must be one of ${RETRY_WRITES.map((v) => `'${v}'`).join(', ')}, got ${describe(retryWrites)}`,
    );
  }
  return Object.freeze({
    retries: integer(options['retries'], 'retries', 0, MAX_RETRIES) ?? 1,
    backoff: Object.freeze({ baseMs, maxMs }),
    deadlineMs: number(options['deadlineMs'], 'deadlineMs', 1, MAX_MS) ?? 10_000,
    retryWrites: retryWrites as RetryWrites,
  });
}

function plainObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`sequelize-autoreconnect: option \`${name}\` must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(value: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    throw new TypeError(
      `sequelize-autoreconnect: unknown option \`${prefix}${key}\`${hint ? ` (did you mean \`${prefix}${hint}\`?)` : ''}; known options: ${known.join(', ')}`,
    );
  }
}

function number(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`sequelize-autoreconnect: option \`${name}\` must be a number, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new TypeError(`sequelize-autoreconnect: option \`${name}\` must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function integer(value: unknown, name: string, min: number, max: number): number | undefined {
  const n = number(value, name, min, max);
  if (n !== undefined && !Number.isInteger(n)) {
    throw new TypeError(`sequelize-autoreconnect: option \`${name}\` must be a whole number, got ${n}`);
  }
  return n;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}

/** The known key within edit distance 2 of a typo, if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
