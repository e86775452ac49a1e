/** Counters kept per Sequelize instance. Numbers only: nothing here can carry a secret. */
export interface ReconnectStats {
  /** Statements whose connection was found lost. */
  disconnects: number;
  /** Attempts to open a connection that failed in a way worth retrying (refused, starting up, ...). */
  connectFailures: number;
  /** Retries started. */
  retries: number;
  /** New connections obtained to replace a lost or refused one. */
  reconnects: number;
  /** Attempts to obtain a replacement connection that failed. */
  reconnectFailures: number;
  /** Operations that succeeded after at least one retry. */
  retriesSucceeded: number;
  /** Operations that failed after at least one retry. */
  retriesFailed: number;
  /** Lost connections reported to the caller without any retry (transaction, a write that may have run, ...). */
  notRetried: number;
}

export function emptyStats(): ReconnectStats {
  return {
    disconnects: 0,
    connectFailures: 0,
    retries: 0,
    reconnects: 0,
    reconnectFailures: 0,
    retriesSucceeded: 0,
    retriesFailed: 0,
    notRetried: 0,
  };
}
