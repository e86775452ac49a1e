import type {
  PoolHygieneOptions,
  ReconnectQueryOption,
  ReconnectTransactionOption,
  ResolvedOptions,
  ResolvedPluginOptions,
  RetryOptions,
  RetryWrites,
} from './option-types';

export type * from './option-types';

/** Largest delay `setTimeout` honours. */
const MAX_MS = 2 ** 31 - 1;
const MAX_RETRIES = 1000;
const RETRY_WRITES: readonly RetryWrites[] = ['unsent', 'verified', 'always', 'never'];
const RETRY_KEYS = ['retries', 'backoff', 'deadlineMs', 'retryWrites'] as const;
const HYGIENE_KEYS = ['validateIdleMs', 'validateTimeoutMs', 'sweep', 'maxLifetimeMs', 'connectTimeoutMs', 'silenceMs'] as const;
const BACKOFF_KEYS = ['baseMs', 'maxMs'] as const;
const PLUGIN_REPLAY = { lost: 'option `replayTransactions`', conflicts: 'option `replayConflicts`' };

/** Validates user options once, at `autoreconnect()` time, and fills the defaults. */
export function resolveOptions(input: unknown): ResolvedPluginOptions {
  const retry = mergeOptions(
    DEFAULTS,
    validateOptions(input, 'option', [...RETRY_KEYS, ...HYGIENE_KEYS, 'replayTransactions', 'replayConflicts']),
  );
  const options = input as (PoolHygieneOptions & { replayTransactions?: unknown; replayConflicts?: unknown }) | undefined;
  const replayTransactions = boolean(options?.replayTransactions, 'replayTransactions') ?? false;
  const replayConflicts = boolean(options?.replayConflicts, 'replayConflicts') ?? false;
  const refusal = replayRefusal(retry, replayTransactions, replayConflicts, PLUGIN_REPLAY);
  if (refusal) throw new TypeError(`sequelize-autoreconnect: ${refusal}`);
  return Object.freeze({
    ...retry,
    replayTransactions,
    replayConflicts,
    hygiene: Object.freeze({
      validateIdleMs: numberOrFalse(options?.validateIdleMs, 'validateIdleMs', 0, MAX_MS) ?? 500,
      validateTimeoutMs: number(options?.validateTimeoutMs, 'validateTimeoutMs', 1, MAX_MS, 'option') ?? 1000,
      sweep: boolean(options?.sweep, 'sweep') ?? true,
      maxLifetimeMs: numberOrFalse(options?.maxLifetimeMs, 'maxLifetimeMs', 1, MAX_MS) ?? 1_800_000,
      connectTimeoutMs: numberOrFalse(options?.connectTimeoutMs, 'connectTimeoutMs', 1, MAX_MS) ?? 5000,
      silenceMs: numberOrFalse(options?.silenceMs, 'silenceMs', 1, MAX_MS) ?? 2000,
    }),
  });
}

/**
 * Why these replay settings could never do what they say, if so. A replay spends the plugin's
 * `retries`, so 0 leaves none; `retryWrites: 'never'` forbids running a lost write again, which
 * is what replaying a transaction lost before COMMIT does (a conflict is rolled back by the
 * server, not lost: it replays under any `retryWrites`). `names`: the options as the caller wrote them.
 */
export function replayRefusal(
  base: Pick<ResolvedOptions, 'retries' | 'retryWrites'>,
  lost: boolean | undefined,
  conflicts: boolean | undefined,
  names: { readonly lost: string; readonly conflicts: string },
): string | undefined {
  const name = lost ? names.lost : names.conflicts;
  if ((lost || conflicts) && base.retries === 0) {
    return `${name} replays within the plugin's \`retries\`, which is 0: set \`retries\` to 1 or more, or leave ${name} out`;
  }
  if (lost && base.retryWrites === 'never') {
    return `${name} runs lost writes again, which the plugin's \`retryWrites: 'never'\` forbids: drop one of the two`;
  }
  return undefined;
}

function numberOrFalse(value: unknown, name: string, min: number, max: number): number | false | undefined {
  return value === false ? false : number(value, name, min, max, 'option');
}

function boolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new TypeError(`sequelize-autoreconnect: option \`${name}\` must be a boolean, got ${describe(value)}`);
}

const DEFAULTS: ResolvedOptions = Object.freeze({
  retries: 1,
  backoff: Object.freeze({ baseMs: 100, maxMs: 2000 }),
  deadlineMs: 10_000,
  retryWrites: 'unsent',
});

/**
 * Checks types, ranges and keys without filling anything in. `label` names the source in
 * messages: `option` for the plugin, `@AutoReconnect option` for a model.
 */
export function validateOptions(input: unknown, label: string, keys: readonly string[] = RETRY_KEYS): RetryOptions {
  const options = plainObject(input === undefined ? {} : input, `${label} \`options\``);
  rejectUnknownKeys(options, keys, '', label);
  const backoffInput = options['backoff'] === undefined ? {} : options['backoff'];
  const backoff = plainObject(backoffInput, `${label} \`backoff\``);
  rejectUnknownKeys(backoff, BACKOFF_KEYS, 'backoff.', label);
  const retryWrites = retryWritesOption(options['retryWrites'], `${label} \`retryWrites\``);
  const result: RetryOptions = {
    retries: integer(options['retries'], 'retries', 0, MAX_RETRIES, label),
    deadlineMs: number(options['deadlineMs'], 'deadlineMs', 1, MAX_MS, label),
    retryWrites,
    backoff:
      options['backoff'] === undefined
        ? undefined
        : {
            baseMs: number(backoff['baseMs'], 'backoff.baseMs', 0, MAX_MS, label),
            maxMs: number(backoff['maxMs'], 'backoff.maxMs', 0, MAX_MS, label),
          },
  };
  const { baseMs, maxMs } = result.backoff ?? {};
  if (baseMs !== undefined && maxMs !== undefined && maxMs < baseMs) {
    throw new TypeError(
      `sequelize-autoreconnect: ${label} \`backoff.maxMs\` (${maxMs}) must not be smaller than \`backoff.baseMs\` (${baseMs})`,
    );
  }
  return result;
}

/** `base` with the options given in `override` (already validated) laid over it. */
export function mergeOptions(base: ResolvedOptions, override: RetryOptions): ResolvedOptions {
  const baseMs = override.backoff?.baseMs ?? base.backoff.baseMs;
  // A larger base without a cap raises the cap with it rather than failing.
  const maxMs = override.backoff?.maxMs ?? Math.max(base.backoff.maxMs, baseMs);
  if (maxMs < baseMs) {
    throw new TypeError(
      `sequelize-autoreconnect: option \`backoff.maxMs\` (${maxMs}) must not be smaller than \`backoff.baseMs\` (${baseMs})`,
    );
  }
  return Object.freeze({
    retries: override.retries ?? base.retries,
    backoff: Object.freeze({ baseMs, maxMs }),
    deadlineMs: override.deadlineMs ?? base.deadlineMs,
    retryWrites: override.retryWrites ?? base.retryWrites,
  });
}

function retryWritesOption(value: unknown, name: string): RetryWrites | undefined {
  if (value === undefined || RETRY_WRITES.includes(value as RetryWrites)) return value as RetryWrites | undefined;
  throw new TypeError(
    `sequelize-autoreconnect: ${name} must be one of ${RETRY_WRITES.map((v) => `'${v}'`).join(', ')}, got ${describe(value)}`,
  );
}

function plainObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`sequelize-autoreconnect: ${name} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(value: Record<string, unknown>, known: readonly string[], prefix: string, label: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = closest(key, known);
    throw new TypeError(
      `sequelize-autoreconnect: unknown ${label} \`${prefix}${key}\`${hint ? ` (did you mean \`${prefix}${hint}\`?)` : ''}; known options: ${known.join(', ')}`,
    );
  }
}

function number(value: unknown, name: string, min: number, max: number, label: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`sequelize-autoreconnect: ${label} \`${name}\` must be a number, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new TypeError(`sequelize-autoreconnect: ${label} \`${name}\` must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function integer(value: unknown, name: string, min: number, max: number, label: string): number | undefined {
  const n = number(value, name, min, max, label);
  if (n !== undefined && !Number.isInteger(n)) {
    throw new TypeError(`sequelize-autoreconnect: ${label} \`${name}\` must be a whole number, got ${n}`);
  }
  return n;
}

export function validateQueryOption(value: unknown): ReconnectQueryOption {
  if (value === false) return false;
  if (value === true) {
    // Retrying is the default; `true` reads as "on" but sets nothing.
    throw new TypeError(
      'sequelize-autoreconnect: query option `reconnect` takes an object such as { retries: 3 } or { idempotent: true }, or false to turn retries off for this call; got true (retrying is already on by default: leave the option out)',
    );
  }
  const option = plainObject(value, 'query option `reconnect`');
  rejectUnknownKeys(option, ['retries', 'idempotent', 'retryWrites'], 'reconnect.', 'query option');
  const idempotent = option['idempotent'];
  if (idempotent !== undefined && typeof idempotent !== 'boolean') {
    throw new TypeError(`sequelize-autoreconnect: query option \`reconnect.idempotent\` must be a boolean, got ${describe(idempotent)}`);
  }
  return {
    retries: integer(option['retries'], 'reconnect.retries', 0, MAX_RETRIES, 'query option'),
    idempotent,
    retryWrites: retryWritesOption(option['retryWrites'], 'query option `reconnect.retryWrites`'),
  };
}

/** `sequelize.transaction({ reconnect }, callback)`; `undefined` when not given. */
export function validateTransactionOption(value: unknown): ReconnectTransactionOption | undefined {
  if (value === undefined) return undefined;
  const option = plainObject(value, 'transaction option `reconnect`');
  rejectUnknownKeys(option, ['replay', 'conflicts'], 'reconnect.', 'transaction option');
  for (const key of ['replay', 'conflicts']) {
    const value = option[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new TypeError(`sequelize-autoreconnect: transaction option \`reconnect.${key}\` must be a boolean, got ${describe(value)}`);
    }
  }
  return { replay: option['replay'] as boolean | undefined, conflicts: option['conflicts'] as boolean | undefined };
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
