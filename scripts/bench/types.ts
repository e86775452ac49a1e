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

/**
 * Runs `rounds` rounds of every variant, rotating the order each round so that no variant
 * always comes first (after a restart, on a warmer server).
 */
export async function rotatedRounds<V extends { name: string; rounds: R[] }, R>(
  settings: SectionSettings,
  section: string,
  rounds: number,
  variants: V[],
  runRound: (variant: V) => Promise<R>,
): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + r) % variants.length]!;
      settings.progress(`${section}: ${variant.name}, round ${r + 1}/${rounds}`);
      variant.rounds.push(await runRound(variant));
    }
  }
}

export interface Goal {
  what: string;
  target: string;
  measured: string;
  /** `'within noise'`: the measurement cannot tell (see the A/A control); `'not measured'`: a tool is missing. */
  met: boolean | 'within noise' | 'not measured';
}
