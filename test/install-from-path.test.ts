/**
 * Installing from git or from a local path gets the sources, not the published tarball: no
 * dist/. The `prepare` script builds it, both when npm packs a git dependency and when it
 * installs a directory. Proved on a fresh checkout: the files git tracks (and new ones it does
 * not ignore), without dist/ or node_modules/; this repository's node_modules stands in for the
 * devDependencies npm would install there, so nothing is fetched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
      .filter((f) => f !== '' && existsSync(join(root, f)));
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

  it('installs with `npm install <path>`, builds dist/, and loads with require and with import', () => {
    rmSync(join(checkout, 'dist'), { recursive: true, force: true });
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    npm(dir, app, ['install', '--legacy-peer-deps', checkout]);
    assert.equal(existsSync(join(checkout, 'dist/index.js')), true, 'prepare did not build dist/');
    const script = `
      const cjs = require('sequelize-autoreconnect');
      import('sequelize-autoreconnect').then((esm) => {
        const { Sequelize } = require(require.resolve('sequelize', { paths: [require.resolve('sequelize-autoreconnect')] }));
        console.log(JSON.stringify({
          cjs: typeof cjs.autoreconnect,
          esm: typeof esm.autoreconnect,
          same: esm.ConnectionLostError === cjs.ConnectionLostError,
          use: typeof Sequelize.prototype.use,
        }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8' })) as object;
    assert.deepEqual(out, { cjs: 'function', esm: 'function', same: true, use: 'function' });
  });
});
