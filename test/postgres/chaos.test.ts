/**
 * Seeded chaos on a server of this file's own: random faults (sessions terminated in flight and
 * idle, connections reset, forgotten, cut, muted then closed, refused; connections black-holed
 * mid-flight or all at once and never closed, which only the silence watchdog every plugin
 * instance runs can end; fast and immediate restarts) against reads, inserts, idempotent upserts
 * and transactions on instances with the plugin. Every run must keep the invariants (see
 * test/support/chaos/invariants.ts). A few seeds here (chosen to cover both restarts, an instance
 * closed under fire, two instances, and statements black-holed mid-flight early in the run);
 * `npm run chaos -- --seeds N` runs many. CHAOS_SEEDS=1,2, CHAOS_SECONDS=5 and CHAOS_SLACK_MS
 * (allowance over a deadline, default 2000) choose others. Black holes stay at the end of the
 * run (`keepBlackHoles`): a statement the watchdog missed never settles, a violation however
 * short the run; CHAOS_KEEP_BLACK_HOLES=0 ends them as `npm run chaos` does by default. Seeds
 * whose whole-proxy black holes catch connection attempts meet a known bug for now (a read given
 * up as deadline-exceeded well before its deadline: see the `[fields]` violation of seed 163).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestServer } from '../support/postgres';
import { formatViolations, replayCommand } from '../support/chaos/report';
import { runChaos } from '../support/chaos/run';

const SEEDS = (process.env['CHAOS_SEEDS'] ?? '206,42,29').split(',').map(Number);
const SECONDS = Number(process.env['CHAOS_SECONDS'] ?? 3);
const SLACK_MS = process.env['CHAOS_SLACK_MS'] === undefined ? undefined : Number(process.env['CHAOS_SLACK_MS']);
const KEEP_BLACK_HOLES = process.env['CHAOS_KEEP_BLACK_HOLES'] !== '0';

describe('seeded chaos against a mixed workload', () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start();
  });
  after(async () => {
    // Once, in a clean-clone CI run, this file passed its three tests and then did not end
    // within the runner's 180 s. Should it happen again, the log shows what was still open.
    const started = Date.now();
    const show = (what: string) =>
      console.log(`# ${what} ${Date.now() - started} ms after after() began: ${process.getActiveResourcesInfo().join(', ')}`);
    const during = setInterval(() => show('server.destroy() still running'), 10_000).unref();
    await server?.destroy();
    clearInterval(during);
    setInterval(() => show('the file is still running'), 10_000).unref();
  });

  for (const seed of SEEDS) {
    it(`seed ${seed}: only ConnectionLostErrors, nothing uncaught, no op past its deadline, a clean pool, no lost or doubled write`, async () => {
      const result = await runChaos(server, { seed, seconds: SECONDS, slackMs: SLACK_MS, keepBlackHoles: KEEP_BLACK_HOLES });
      if (result.violations.length > 0) {
        assert.fail(
          `${formatViolations(result)}\n${result.summary.join('\n')}\nreplay: ${replayCommand(seed, SECONDS, { keepBlackHoles: KEEP_BLACK_HOLES })}`,
        );
      }
      assert.ok(result.summary.length > 0);
    });
  }
});
