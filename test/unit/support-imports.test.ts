/**
 * The benchmarks, the soak and the demo import test support modules: importing them must not
 * start node:test's harness, whose async hooks make every promise of the process about ten
 * times dearer (see docs/development.md).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

const ROOT = join(__dirname, '..', '..');

/** Every `test/support/…` module a script under scripts/ imports. */
function importedByScripts(): string[] {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/test\/support\/[\w/-]+/g)) found.add(m[0]);
    }
  };
  walk(join(ROOT, 'scripts'));
  // A folder named in a path is no module.
  return [...found].filter((m) => statSync(join(ROOT, `${m}.ts`), { throwIfNoEntry: false })?.isFile()).sort();
}

it('the support modules scripts import start no node:test harness when imported', () => {
  const modules = importedByScripts();
  assert.ok(modules.length >= 5, `found ${modules.join(', ')}`);
  const program = modules.map((m) => `require(${JSON.stringify(join(ROOT, m))});`).join('\n');
  const env = { ...process.env };
  // As a script runs: not a child of `node --test`.
  delete env['NODE_TEST_CONTEXT'];
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', program], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  assert.doesNotMatch(output, /TAP version/, `importing ${modules.join(', ')} started node:test's harness`);
});
