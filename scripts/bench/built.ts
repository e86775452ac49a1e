/**
 * The plugin as users run it: the package's built entry (dist/, made by `npm run build` from this
 * repository's src/), not the TypeScript source through tsx. The hot-path figures come from it:
 * tsx compiles each file into a module whose exports are getters, so every call from one of the
 * plugin's files into another would cost a getter call that the built package does not have
 * (measured: SELECT 1 +2.8 % instructions over bare through tsx, +1.8 % built).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { autoreconnect } from '../../src';

const ROOT = join(__dirname, '..', '..');

/** Builds the package (tsc): the children load what src/ says now. */
export function buildPlugin(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The built package's `autoreconnect`, loaded in this process. */
export function builtPlugin(): typeof autoreconnect {
  const load = createRequire(__filename);
  return (load(join(ROOT, 'dist')) as { autoreconnect: typeof autoreconnect }).autoreconnect;
}

/** Where the built package's files are, as a V8 profile names them: the plugin's own code. */
export const BUILT_PREFIX = `${pathToFileURL(join(ROOT, 'dist')).href}/`;
