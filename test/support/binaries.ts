import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian installs daemons in sbin, which is not on every user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** The absolute path of an executable on PATH or in an sbin directory, or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function isCI(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * What a test file needing a middle box does when it is missing: locally its tests are
 * skipped with a loud message; under CI the run fails, so CI can never pass by skipping.
 */
export interface BinaryRequirement {
  /** The binary's path, when installed. */
  readonly path: string | undefined;
  /** For `describe(name, { skip })`: a reason when the tests must be skipped, else false. */
  readonly skip: string | false;
  /** Under CI with the binary missing: the message of the test that must fail. */
  readonly failure: string | undefined;
}

export function requireBinary(name: string, debianPackage = name): BinaryRequirement {
  const path = findBinary(name);
  if (path) return { path, skip: false, failure: undefined };
  const message = `${name} is not installed (apt-get update && apt-get install -y ${debianPackage})`;
  if (isCI()) return { path, skip: false, failure: `${message}: CI must run the ${name} scenarios` };
  return { path, skip: `${message}; skipped locally, required under CI=true`, failure: undefined };
}

/**
 * `describe`, for scenarios that need a middle box: skipped (loudly) when it is missing
 * locally, one failing test in its place under CI.
 */
export function describeWith(requirement: BinaryRequirement, name: string, fn: () => void): void {
  if (requirement.failure) {
    const message = requirement.failure;
    describe(name, () => {
      it('has its middle box installed', () => assert.fail(message));
    });
    return;
  }
  if (requirement.skip) process.stderr.write(`\n*** SKIPPING "${name}": ${requirement.skip} ***\n\n`);
  describe(name, { skip: requirement.skip }, fn);
}
