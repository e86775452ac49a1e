/** What every benchmark section reports, and how correctness failures are collected. */
import type { TestServer } from '../../test/support/postgres';

export type Mode = 'full' | 'quick';

export interface SectionSettings {
  mode: Mode;
  /** The server's superuser URL. */
  serverUrl: string;
  /** The server itself, which the outage section stops and starts. */
  server: TestServer;
  /** Collects correctness failures; the run exits non-zero if any. Never a timing. */
  fail(message: string): void;
  progress(message: string): void;
}

export interface Goal {
  what: string;
  target: string;
  measured: string;
  /** `'within noise'`: the measurement cannot tell (see the A/A control). */
  met: boolean | 'within noise';
}
