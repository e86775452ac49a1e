// NestJS with @nestjs/sequelize: the plugin installed on the instance that
// SequelizeModule.forRootAsync creates (database.module.ts), and a service whose read survives
// the server ending its session. Run: npm run example -- nestjs
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getConnectionToken } from '@nestjs/sequelize';
import { Client } from 'pg';
import type { Sequelize } from 'sequelize-typescript';
import { getReconnectStats } from 'sequelize-autoreconnect';
import { APP_NAME } from './database.module';
import { NotesModule, NotesService } from './notes.module';

@Module({ imports: [NotesModule] })
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  try {
    const notes = app.get(NotesService);
    await notes.add('first');
    await notes.add('second');
    // The server ends the session under the service's read: retried, the caller sees the answer.
    console.log(`notes counted: ${await endSessionWhileRunning(() => notes.slowCount())}`);
    console.log(`stats: ${JSON.stringify(getReconnectStats(app.get<Sequelize>(getConnectionToken())))}`);
  } finally {
    await app.close(); // closes the Sequelize instance too (autoCloseConnection)
  }
}

/** A real fault: once `run`'s statement is running, the server ends its session. */
async function endSessionWhileRunning<T>(run: () => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: process.env['DATABASE_URL'] });
  await admin.connect();
  try {
    const pending = run();
    pending.catch(() => {}); // awaited below
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rowCount } = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
        [APP_NAME],
      );
      if (rowCount) break;
      if (Date.now() > deadline) throw new Error('the statement never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return await pending;
  } finally {
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
