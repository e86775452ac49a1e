import type { ReconnectContext } from './hooks';

/** A database login, as a secrets store hands it out (HashiCorp Vault, AWS RDS IAM, ...). */
export interface Credentials {
  /** Omit to keep the configured user (an RDS IAM token is a password only). */
  readonly username?: string;
  readonly password: string;
}

export interface CachedCredentialsOptions {
  /**
   * How long fetched credentials are served by `get()` before it fetches again (a Vault lease,
   * an IAM token's 15 minutes). Default: until a `refresh()`.
   */
  ttlMs?: number;
  /**
   * A `refresh()` within this long after an earlier refresh's fetch completed gets that result
   * instead of another fetch: the stragglers of a burst of rejected logins (attempted with the
   * old secret before the new one arrived) cost nothing. Default 1000.
   */
  minRefreshMs?: number;
}

/** Credentials fetched once and shared: concurrent callers wait for the same fetch. */
export interface CredentialsProvider {
  /** The cached credentials while within `ttlMs`; otherwise one fetch, shared by concurrent callers. */
  get(): Promise<Credentials>;
  /**
   * The credentials were rejected: fetch anew, unless a fetch is under way, or an earlier
   * `refresh()` fetched new credentials less than `minRefreshMs` ago; then that result is
   * returned instead. `rejectedPassword`, the password that was refused, lets a fetch that
   * returns that same password (a store that has not published the rotation yet) count as
   * nothing new, so that the next refresh fetches again.
   */
  refresh(rejectedPassword?: string): Promise<Credentials>;
  /** How many times the fetch function has been called. */
  readonly fetches: number;
}

/**
 * Wraps a function that fetches credentials (from Vault, say) so that a burst of reconnects,
 * each wanting fresh credentials, fetches them once (single flight), and `get()` caches them
 * for `ttlMs`. A failed fetch is not cached: every caller waiting on it gets its error, and the
 * next call fetches again.
 */
export function cachedCredentials(
  fetch: () => Credentials | Promise<Credentials>,
  options: CachedCredentialsOptions = {},
): CredentialsProvider {
  if (typeof fetch !== 'function') throw new TypeError('cachedCredentials: `fetch` must be a function returning { username?, password }');
  rejectUnknownKeys(options);
  const ttlMs = nonNegative(options.ttlMs, 'ttlMs') ?? Number.POSITIVE_INFINITY;
  const minRefreshMs = nonNegative(options.minRefreshMs, 'minRefreshMs') ?? 1000;
  /** `fresh`: fetched by a refresh and different from what was rejected, so worth sharing. */
  let cached: { value: Credentials; at: number; fresh: boolean } | undefined;
  let inflight: Promise<Credentials> | undefined;
  let fetches = 0;

  const load = (refresh: boolean, rejectedPassword?: string): Promise<Credentials> => {
    inflight ??= (async () => {
      fetches++;
      try {
        const value = checked(await fetch());
        cached = { value, at: Date.now(), fresh: refresh && value.password !== rejectedPassword };
        return value;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  return {
    get() {
      if (cached && Date.now() - cached.at < ttlMs) return Promise.resolve(cached.value);
      return load(false);
    },
    refresh(rejectedPassword?: string) {
      if (inflight) return inflight;
      // Only a refresh that brought something new answers a rejection: a value that get()
      // cached a moment ago may be exactly the one just rotated away.
      if (cached?.fresh && Date.now() - cached.at < minRefreshMs) return Promise.resolve(cached.value);
      return load(true, rejectedPassword);
    },
    get fetches() {
      return fetches;
    },
  };
}

/**
 * A `beforeReconnect` hook that, when a login was rejected (`context.failure === 'auth'`: for
 * PostgreSQL 28P01, 28000, or pgbouncer's "password authentication failed"), refreshes the credentials and sets them on the config the
 * next connection uses. Other reconnects are left alone: a secrets store that is down must not
 * turn a network blip into a failure. Given a plain function, it wraps it in `cachedCredentials`.
 *
 * ```ts
 * const vault = cachedCredentials(() => readFromVault('database/creds/app'));
 * sequelize.addHook('beforeReconnect', refreshCredentials(vault));
 * ```
 */
export function refreshCredentials(
  source: CredentialsProvider | (() => Credentials | Promise<Credentials>),
): (context: ReconnectContext) => Promise<void> {
  const provider = typeof source === 'function' ? cachedCredentials(source) : source;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers can pass anything
  if (typeof provider?.refresh !== 'function')
    throw new TypeError('refreshCredentials: expected cachedCredentials(...) or a fetch function');
  return async (context) => {
    if (context.failure !== 'auth') return;
    const rejected = typeof context.config.password === 'string' ? context.config.password : undefined;
    const { username, password } = await provider.refresh(rejected);
    if (username !== undefined) context.config.username = username;
    context.config.password = password;
  };
}

function checked(value: unknown): Credentials {
  const v = value as Partial<Credentials> | null | undefined;
  if (typeof v?.password !== 'string' || (v.username !== undefined && typeof v.username !== 'string')) {
    // Never echo the value: it may be a secret.
    throw new TypeError('cachedCredentials: the fetch must resolve to { username?: string, password: string }');
  }
  return v.username === undefined ? { password: v.password } : { username: v.username, password: v.password };
}

const KNOWN_KEYS = ['ttlMs', 'minRefreshMs'];

/** A misspelt key (`ttl`) would otherwise leave the default in force, silently. */
function rejectUnknownKeys(options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('cachedCredentials: `options` must be an object such as { ttlMs: 60_000 }');
  }
  for (const key of Object.keys(options)) {
    if (KNOWN_KEYS.includes(key)) continue;
    const stem = key.toLowerCase().replace(/ms$/, '');
    const hint = stem.length > 1 ? KNOWN_KEYS.find((known) => known.toLowerCase().startsWith(stem)) : undefined;
    throw new TypeError(
      `cachedCredentials: unknown option \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}; known options: ${KNOWN_KEYS.join(', ')}`,
    );
  }
}

function nonNegative(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new TypeError(`cachedCredentials: option \`${name}\` must be a number of milliseconds, 0 or more`);
  }
  return value;
}
