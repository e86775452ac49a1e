/**
 * The credential recipes of docs/recipes/ as printed, made runnable: each code block is read
 * from its Markdown file, only its deployment constants are pointed at the test server (each
 * edit must match exactly once, so a changed recipe fails here instead of running something
 * else), and it is loaded as a module. The secrets store behind them is a stand-in that counts
 * its reads: Vault's HTTP API for vault.md, `Signer.getAuthToken()` for aws-rds-iam.md.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Sequelize } from 'sequelize';
import { autoreconnect } from '../../src';

const root = join(__dirname, '..', '..');
const scratch = join(root, '.tmp', `recipes-${process.pid}`);

/** The first ```ts block after the heading `## <heading>` of `file`. */
export function recipeBlock(file: string, heading: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  const at = text.indexOf(`\n## ${heading}\n`);
  if (at < 0) throw new Error(`${file}: no heading "## ${heading}"`);
  const block = /\n```ts\n([\s\S]*?)\n```\n/.exec(text.slice(at));
  if (!block) throw new Error(`${file}: no ts block after "## ${heading}"`);
  return block[1]!;
}

/** `code` with each `[from, to]` made, each `from` found exactly once. */
export function edit(code: string, edits: readonly (readonly [string, string])[]): string {
  return edits.reduce((text, [from, to]) => {
    const count = text.split(from).length - 1;
    if (count !== 1) throw new Error(`recipe edit: ${JSON.stringify(from)} found ${count} times`);
    return text.replace(from, () => to);
  }, code);
}

/** Writes `code` as a module of its own (the package resolved to src/) and loads it. */
function load<T>(name: string, code: string): T {
  mkdirSync(scratch, { recursive: true });
  const path = join(scratch, `${name}.ts`);
  writeFileSync(path, code.replaceAll("from 'sequelize-autoreconnect'", `from ${JSON.stringify(join(root, 'src'))}`));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module written just now
  return require(path) as T;
}

export function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true });
}

/** The secrets store: the login it hands out now (stale ones first, if any), and its reads. */
export class Secrets {
  fetches = 0;
  /** Run by the next read: the store issuing a login that works again (a new lease, a fixed policy). */
  repair: (() => Promise<void>) | undefined;
  constructor(
    readonly username: string,
    public password: string,
    /** Handed out first, one per read: what the store served before it published the rotation. */
    readonly stale: string[] = [],
  ) {}

  async read(): Promise<{ username: string; password: string }> {
    this.fetches++;
    const repair = this.repair;
    this.repair = undefined;
    await repair?.();
    return { username: this.username, password: this.stale.shift() ?? this.password };
  }
}

export interface Target {
  host: string;
  port: number;
  database: string;
}

export interface Recipe {
  readonly name: string;
  /** Fetches the recipe makes before the app's first statement has run (Vault's `connect()`). */
  readonly fetchesAtStart: number | 'first connect';
  /** How long after a fetch the recipe refuses to fetch again (vault.md's `fetchedAt` guard). */
  readonly refetchAfterMs: number;
  deploy(target: Target, secrets: Secrets, n: number): Promise<{ sequelize: Sequelize; close(): Promise<void> }>;
}

/** docs/recipes/vault.md's module, with Vault answered by a local HTTP server. */
export const vaultRecipe: Recipe = {
  name: 'docs/recipes/vault.md',
  fetchesAtStart: 1,
  refetchAfterMs: 5_000,
  async deploy(target, secrets, n) {
    const vault: Server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url !== '/v1/database/creds/app') return void response.writeHead(404).end();
      void secrets.read().then((data) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ lease_id: `database/creds/app/${secrets.fetches}`, lease_duration: 3600, renewable: true, data }));
      });
    });
    await new Promise<void>((resolve) => vault.listen(0, '127.0.0.1', resolve));
    const { port } = vault.address() as { port: number };
    const code = edit(
      recipeBlock('docs/recipes/vault.md', 'Current credentials, lease renewal, refresh on a refused login with a single flight'),
      [
        ["process.env['VAULT_ADDR'] ?? 'https://vault.internal:8200'", JSON.stringify(`http://127.0.0.1:${port}`)],
        ["'appdb'", JSON.stringify(target.database)],
        ["host: 'db.internal',", `host: ${JSON.stringify(target.host)}, port: ${target.port},`],
      ],
    );
    const recipe = load<{ connect(): Promise<Sequelize> }>(`vault-${n}`, code);
    const sequelize = await recipe.connect();
    return { sequelize, close: async () => void (await sequelize.close(), vault.close()) };
  },
};

/** The stand-in for `@aws-sdk/rds-signer`: every `getAuthToken()` is a read of `tokens`. */
export const signer: { tokens: Secrets | undefined } = { tokens: undefined };

/** docs/recipes/aws-rds-iam.md's module, without TLS (the test server has none). */
export const awsRecipe: Recipe = {
  name: 'docs/recipes/aws-rds-iam.md',
  fetchesAtStart: 'first connect',
  refetchAfterMs: 0,
  deploy(target, secrets, n) {
    signer.tokens = secrets;
    const code = edit(recipeBlock('docs/recipes/aws-rds-iam.md', 'Token per connection, or cached, and a fresh one after a refusal'), [
      ["from '@aws-sdk/rds-signer'", `from ${JSON.stringify(__filename.replace(/\.ts$/, ''))}`],
      ["const host = 'mydb.cluster-abc123.eu-west-1.rds.amazonaws.com';", `const host = ${JSON.stringify(target.host)};`],
      ['const port = 5432;', `const port = ${target.port};`],
      ["const username = 'app_iam';", `const username = ${JSON.stringify(secrets.username)};`],
      ["'appdb'", JSON.stringify(target.database)],
      ['  dialectOptions: { ssl: { rejectUnauthorized: true } },\n', ''],
    ]);
    const { sequelize } = load<{ sequelize: Sequelize }>(`aws-${n}`, code);
    return Promise.resolve({ sequelize, close: () => sequelize.close() });
  },
};

/** What the AWS recipe imports as `@aws-sdk/rds-signer`. */
export class Signer {
  constructor(readonly options: object) {}
  async getAuthToken(): Promise<string> {
    if (!signer.tokens) throw new Error('no token source');
    return (await signer.tokens.read()).password;
  }
}

/**
 * vault.md's two-line `cachedCredentials` + `refreshCredentials` block, run on an app whose
 * initial login is the configured one (the helper refreshes only after a refusal).
 */
export const helperRecipe: Recipe = {
  name: 'vault.md: cachedCredentials + refreshCredentials',
  fetchesAtStart: 0,
  refetchAfterMs: 0,
  deploy(target, secrets, n) {
    const text = readFileSync(join(root, 'docs/recipes/vault.md'), 'utf8');
    const block = /\n```ts\n(import \{ cachedCredentials, refreshCredentials \}[^\n]*\n)([\s\S]*?)\n```\n/.exec(text);
    if (!block) throw new Error('docs/recipes/vault.md: no cachedCredentials block');
    const code = `${block[1]!}\nexport function install(sequelize: any, readDatabaseCreds: any): void {\n${block[2]!}\n}\n`;
    const sequelize = new Sequelize(target.database, secrets.username, secrets.stale.shift() ?? secrets.password, {
      host: target.host,
      port: target.port,
      dialect: 'postgres',
      logging: false,
    }).use(autoreconnect({ retries: 3 }));
    load<{ install(s: Sequelize, read: () => Promise<object>): void }>(`helper-${n}`, code).install(sequelize, () => secrets.read());
    return Promise.resolve({ sequelize, close: () => sequelize.close() });
  },
};
