/**
 * `npm run example -- <name>`: runs one program of examples/ against a PostgreSQL of its own
 * (embedded, started and stopped here), so a fresh clone needs nothing else. Names: the folders
 * of examples/. With DATABASE_URL set, runs against that server instead.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestServer } from '../test/support/postgres';
import { cleanup, initScratch, onCleanup } from './lib/scratch';

const root = join(__dirname, '..');
const names = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);
const name = process.argv[2];
if (!name || !names.includes(name)) {
  console.error(`usage: npm run example -- <${names.join(' | ')}>`);
  process.exit(2);
}

/** The entry point of an example: main.ts, app.ts or app.js. */
function entry(dir: string): string[] {
  for (const file of ['main.ts', 'app.ts']) if (existsSync(join(dir, file))) return ['--import', 'tsx', join(dir, file)];
  return [join(dir, 'app.js')];
}

async function main(): Promise<number> {
  initScratch('sar-example');
  let url = process.env['DATABASE_URL'];
  if (!url) {
    const server = await TestServer.start();
    onCleanup(() => server.destroy());
    url = server.url;
  }
  // tsx reads the examples' tsconfig.json (useDefineForClassFields: false), as tsc -p examples does.
  const env = { ...process.env, DATABASE_URL: url, TSX_TSCONFIG_PATH: join(root, 'examples/tsconfig.json') };
  const child = spawn(process.execPath, entry(join(root, 'examples', name!)), { stdio: 'inherit', env });
  return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanup();
    process.exit(1);
  });
