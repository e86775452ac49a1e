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
  /** Idle connections checked with a round trip before reuse. */
  validations: number;
  /** Of those, the ones found dead and replaced before a statement met them. */
  validationFailures: number;
  /**
   * Lost COMMITs whose outcome the server told (committed or not): of verified writes, and of
   * managed transactions under `replayTransactions` (or `reconnect: { replay: true }`).
   */
  commitsSettled: number;
  /** The same lost COMMITs when nobody could tell their outcome (reported with `mayHaveExecuted`). */
  commitsUnknown: number;
  /** Managed transactions run again from the start (`replayTransactions`). */
  transactionReplays: number;
  /** Healthy connections closed for their age, or because a failover made them point at a read-only server. */
  retired: number;
}

/** Something that happened, named after the counter it feeds. */
export type StatEvent = keyof ReconnectStats;

/** The counters of one instance; `note` is the only writer. */
export class Stats {
  private readonly counts: ReconnectStats = {
    disconnects: 0,
    connectFailures: 0,
    retries: 0,
    reconnects: 0,
    reconnectFailures: 0,
    retriesSucceeded: 0,
    retriesFailed: 0,
    notRetried: 0,
    validations: 0,
    validationFailures: 0,
    commitsSettled: 0,
    commitsUnknown: 0,
    transactionReplays: 0,
    retired: 0,
  };

  note(event: StatEvent): void {
    this.counts[event]++;
  }

  snapshot(): ReconnectStats {
    return { ...this.counts };
  }
}
