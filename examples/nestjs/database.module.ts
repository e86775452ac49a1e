import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { getConnectionToken, SequelizeModule } from '@nestjs/sequelize';
import type { Sequelize } from 'sequelize-typescript';
import { autoreconnect } from 'sequelize-autoreconnect';

export const APP_NAME = 'example-nestjs';

/**
 * @nestjs/sequelize creates the Sequelize instance itself (and runs authenticate() and sync(),
 * with its own `retryAttempts` for start-up). The plugin goes on that instance once it exists:
 * in onModuleInit, which Nest calls for this module before the modules that import it, so before
 * any of them queries.
 */
@Injectable()
class AutoReconnectInstaller implements OnModuleInit {
  // An explicit token: under tsx there is no decorator metadata to inject by type.
  constructor(@Inject(getConnectionToken()) private readonly sequelize: Sequelize) {}

  onModuleInit(): void {
    this.sequelize.use(autoreconnect({ retries: 3 }));
  }
}

@Module({
  imports: [
    SequelizeModule.forRootAsync({
      useFactory: () => ({
        dialect: 'postgres',
        uri: process.env['DATABASE_URL'],
        autoLoadModels: true,
        synchronize: true,
        logging: false,
        dialectOptions: { application_name: APP_NAME },
      }),
    }),
  ],
  providers: [AutoReconnectInstaller],
  exports: [SequelizeModule],
})
export class DatabaseModule {}
