import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { adminUrl } from './support/db';

const root = join(__dirname, '..');
const run = promisify(execFile);

/** The peers a user has installed next to the plugin; linked from this repository, never fetched. */
const PEERS = ['sequelize', 'pg', 'pg-hstore', 'sequelize-typescript', 'reflect-metadata', 'typescript', '@types/node'];

interface PackResult {
  filename: string;
  files: { path: string }[];
}

interface Report {
  resolved: string;
  exports: string[];
  use: string;
  useReturnsInstance: boolean;
  connectionError: boolean;
  answer: number;
  stats: string[];
  sameAsRequire?: boolean;
  otel: string;
}

/**
 * The package as users get it: `npm pack` of the build (npm test builds first), installed into a
 * fresh project outside this repository (so nothing resolves through the repository's own
 * node_modules), with no network: an empty npm cache, `--offline`, and a registry on a closed
 * loopback port, so anything npm tried to fetch would fail the install.
 */
describe('a fresh project installing the packed tarball', () => {
  let dir: string;
  let app: string;
  let packed: PackResult;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sar-consumer-'));
    app = join(dir, 'app');
    // --ignore-scripts: `prepare` would rebuild dist/ under the other test files that load it.
    const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    packed = (JSON.parse(out) as PackResult[])[0]!;
    cpSync(join(root, 'test/consumer'), app, { recursive: true });
    execFileSync(
      'npm',
      [
        'install',
        '--offline',
        '--legacy-peer-deps',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--cache',
        join(dir, 'npm-cache'),
        '--registry',
        'http://127.0.0.1:9/',
        join(dir, packed.filename),
      ],
      { cwd: app, stdio: 'pipe' },
    );
    // After the install, which would prune links it does not know.
    mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
    for (const peer of PEERS) symlinkSync(join(root, 'node_modules', peer), join(app, 'node_modules', peer), 'dir');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `node <script>` in the consumer project and parses the JSON it prints. */
  async function report(script: string): Promise<Report> {
    const { stdout } = await run(process.execPath, [script], { cwd: app, env: { ...process.env, DATABASE_URL: adminUrl() } });
    return JSON.parse(stdout) as Report;
  }

  /** The names the build exports: the tarball must export the same. */
  function builtExports(): string[] {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return Object.keys(require(join(root, 'dist/index.js')) as object).sort();
  }

  it('holds the build, both type entry points, the docs and the license, and no tests', () => {
    const paths = packed.files.map((f) => f.path);
    for (const path of [
      'dist/index.js',
      'dist/index.mjs',
      'dist/index.d.ts',
      'dist/index.d.mts',
      'README.md',
      'CHANGELOG.md',
      'LICENSE',
      'docs/API.md',
      'docs/recipes/vault.md',
    ]) {
      assert.ok(paths.includes(path), `${path} is missing from the tarball`);
    }
    assert.deepEqual(
      paths.filter((p) => p.startsWith('test/') || p.startsWith('node_modules/') || p.startsWith('scripts/') || p.endsWith('.tgz')),
      [],
    );
  });

  it('works with require: exports, Sequelize.prototype.use, and a query through the plugin', async () => {
    const out = await report('index.cjs');
    assert.equal(out.resolved, join(app, 'node_modules/sequelize-autoreconnect/dist/index.js'));
    assert.deepEqual(out.exports, builtExports());
    for (const name of [
      'autoreconnect',
      'getReconnectStats',
      'ConnectionLostError',
      'AutoReconnect',
      'BeforeReconnect',
      'AfterReconnect',
    ]) {
      assert.ok(out.exports.includes(name), `${name} is not exported`);
    }
    assert.equal(out.use, 'function');
    assert.equal(out.useReturnsInstance, true);
    assert.equal(out.connectionError, true);
    assert.equal(out.answer, 42);
    assert.ok(out.stats.includes('retriesSucceeded') && out.stats.includes('disconnects'), out.stats.join());
    assert.match(
      out.otel,
      /^instrumentOpenTelemetry\(\) needs the @opentelemetry\/api package, which is not installed: npm install @opentelemetry\/api/,
    );
  });

  it('works with import, as the same module instance require loads', async () => {
    const out = await report('index.mjs');
    assert.equal(out.resolved, `file://${join(app, 'node_modules/sequelize-autoreconnect/dist/index.mjs')}`);
    assert.deepEqual(out.exports, [...builtExports(), 'default'].sort());
    assert.equal(out.sameAsRequire, true);
    assert.equal(out.use, 'function');
    assert.equal(out.useReturnsInstance, true);
    assert.equal(out.connectionError, true);
    assert.equal(out.answer, 42);
    assert.match(out.otel, /needs the @opentelemetry\/api package, which is not installed/);
  });

  for (const resolution of ['nodenext', 'bundler']) {
    it(`type-checks in strict mode with moduleResolution ${resolution}, decorators included`, async () => {
      const tsc = join(app, 'node_modules/typescript/bin/tsc');
      const result = await run(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], { cwd: app }).then(
        () => ({ code: 0, output: '' }),
        (error: unknown) => {
          const failed = error as { code?: number; stdout?: string };
          return { code: failed.code ?? 1, output: failed.stdout ?? '' };
        },
      );
      assert.deepEqual(result, { code: 0, output: '' });
    });
  }
});
