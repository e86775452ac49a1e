/**
 * Installing from git or from a local path gets the sources, not the published tarball: no
 * dist/. The `prepare` script builds it, both when npm packs a git dependency and when it
 * installs a directory. Proved on a fresh checkout: the files git tracks (and new ones it does
 * not ignore), without dist/ or node_modules/; this repository's node_modules stands in for the
 * devDependencies npm would install there, so nothing is fetched.
 *
 * Seen from the app: it has its own Sequelize (a copy of this repository's, so a different
 * module), which its own code requires. `npm install <path>` links the checkout, whose
 * node_modules hold another Sequelize: the plugin refuses on `require`, saying to use
 * `--install-links`, which then works with the app's Sequelize.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = join(__dirname, '..');

/** npm with no network: an empty cache and a registry on a closed port, so a fetch would fail. */
function npm(dir: string, cwd: string, args: string[]): string {
  return execFileSync(
    'npm',
    [...args, '--offline', '--no-audit', '--no-fund', '--cache', join(dir, 'npm-cache'), '--registry', 'http://127.0.0.1:9/'],
    {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

describe('a fresh checkout installed from its path', () => {
  let dir: string;
  let checkout: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sar-from-path-'));
    checkout = join(dir, 'sequelize-autoreconnect');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '' && f !== 'node_modules' && existsSync(join(root, f)));
    for (const file of files) {
      mkdirSync(dirname(join(checkout, file)), { recursive: true });
      cpSync(join(root, file), join(checkout, file));
    }
    symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has no dist/ before anything is built', () => {
    assert.equal(existsSync(join(checkout, 'package.json')), true);
    assert.equal(existsSync(join(checkout, 'dist')), false);
  });

  it('packs with dist/ built by `prepare`, as npm does for a git dependency', () => {
    rmSync(join(checkout, 'dist'), { recursive: true, force: true });
    const [packed] = JSON.parse(npm(dir, checkout, ['pack', '--json', '--pack-destination', dir])) as [{ files: { path: string }[] }];
    const paths = packed.files.map((f) => f.path);
    for (const path of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts'])
      assert.ok(paths.includes(path), `${path} missing`);
  });

  /** An app folder whose node_modules will hold its own copy of Sequelize (its dependencies from ours). */
  function makeApp(name: string): string {
    const app = join(dir, name);
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
    return app;
  }
  function giveOwnSequelize(app: string): void {
    cpSync(join(root, 'node_modules/sequelize'), join(app, 'node_modules/sequelize'), { recursive: true, dereference: true });
  }
  /** Runs the app's code, as `node app.js` in its folder; what it printed, and whether it failed. */
  function runApp(app: string, code: string): { status: number | null; stdout: string; stderr: string } {
    writeFileSync(join(app, 'app.js'), code);
    const env = { ...process.env, NODE_PATH: join(root, 'node_modules') };
    const run = spawnSync(process.execPath, ['app.js'], { cwd: app, encoding: 'utf8', env });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }
  /** What a user writes: the app's own `require('sequelize')`, then `.use(autoreconnect())`. */
  const appJs = `
    const { Sequelize } = require('sequelize');
    const { autoreconnect, getReconnectStats } = require('sequelize-autoreconnect');
    const sequelize = new Sequelize('postgres://user:pw@127.0.0.1:9/db', { logging: false }).use(autoreconnect());
    import('sequelize-autoreconnect').then((esm) => {
      console.log(JSON.stringify({ stats: typeof getReconnectStats(sequelize), esm: esm.autoreconnect === autoreconnect }));
    });`;

  it('installs with `npm install <path>`, builds dist/, and refuses the app at once, saying what to do', () => {
    rmSync(join(checkout, 'dist'), { recursive: true, force: true });
    const app = makeApp('linked-app');
    npm(dir, app, ['install', '--legacy-peer-deps', checkout]);
    assert.equal(existsSync(join(checkout, 'dist/index.js')), true, 'prepare did not build dist/');
    giveOwnSequelize(app);
    const run = runApp(app, appJs);
    assert.notEqual(run.status, 0);
    assert.doesNotMatch(run.stderr, /use is not a function/);
    const line = run.stderr.split('\n').find((l) => l.startsWith('Error: sequelize-autoreconnect'));
    assert.ok(line, run.stderr);
    assert.ok(line.endsWith(`install it with \`npm install --install-links ${realpathSync(checkout)}\``), line);
  });

  it("with `npm install --install-links <path>`, works with the app's own Sequelize, by require and by import", () => {
    rmSync(join(checkout, 'dist'), { recursive: true, force: true });
    const app = makeApp('copied-app');
    npm(dir, app, ['install', '--legacy-peer-deps', '--install-links', checkout]);
    assert.equal(existsSync(join(app, 'node_modules/sequelize-autoreconnect/dist/index.js')), true, 'no dist/ installed');
    giveOwnSequelize(app);
    const run = runApp(app, appJs);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout) as object, { stats: 'object', esm: true });
  });
});
