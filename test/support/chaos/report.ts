/** How a chaos run is reported: the command that replays a seed, and each violation in full. */
import type { ChaosResult } from './run';

export function replayCommand(seed: number, seconds: number, flags: { bare?: boolean; keepBlackHoles?: boolean } = {}): string {
  return `npm run chaos -- --seed ${seed} --seconds ${seconds}${flags.bare ? ' --bare' : ''}${flags.keepBlackHoles ? ' --keep-black-holes' : ''}`;
}

/** Greppable: every violation starts a line with `VIOLATION seed=S [invariant]`. */
export function formatViolations(result: ChaosResult): string {
  const { seed } = result.plan;
  const lines: string[] = [];
  for (const v of result.violations) {
    lines.push(`VIOLATION seed=${seed} [${v.invariant}] ${v.message}`);
    if (v.error) {
      lines.push(`  error: ${v.error.name}: ${v.error.message.replace(/\n/g, '\n  ')}`);
      // The frames of the error, then of its parent: where each was made.
      for (const [i, part] of (v.error.stack ?? '').split('\ncaused by: ').entries()) {
        const frames = part.split('\n').filter((l) => l.trimStart().startsWith('at '));
        if (i > 0) lines.push('    caused by:');
        lines.push(...frames.slice(0, 10).map((f) => `    ${f.trim()}`));
      }
    }
  }
  return lines.join('\n');
}
