/** What a benchmark ran on, for its report. */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem, type } from 'node:os';
import { admin } from '../../test/support/db';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  sequelize: string;
  pg: string;
}

export async function describeMachine(serverUrl: string): Promise<Machine> {
  const postgres = await admin(serverUrl, async (c) => {
    const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return rows[0]!.v;
  });
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    postgres,
    sequelize: packageVersion('sequelize'),
    pg: packageVersion('pg'),
  };
}

function packageVersion(name: string): string {
  const path = require.resolve(`${name}/package.json`);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
