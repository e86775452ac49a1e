export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): exponential with full jitter, uniform in
 * `[0, min(maxMs, baseMs * 2^(attempt-1))]`, so that a crowd of clients that lost the server
 * together does not come back together.
 *
 * `immediateFirst`: a connection found dead while the server is fine (a stale pooled
 * connection, a killed backend) is best replaced at once; waiting only helps when the
 * server itself is unreachable. `random`: a draw from [0, 1).
 */
export function backoffDelay(attempt: number, backoff: Backoff, immediateFirst: boolean, random: number = Math.random()): number {
  if (attempt <= 1 && immediateFirst) return 0;
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random * ceiling);
}

/**
 * While operations sleep in a connect backoff, one attempt this often checks whether the server
 * answers again, so that they go as soon as it does rather than when their jittered delays end.
 */
export const SCOUT_INTERVAL_MS = 15;
