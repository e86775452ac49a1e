// The `require` side under nodenext: this .cts file compiles to CommonJS, so its import resolves
// the package's `require` condition (dist/index.d.ts), where app.ts resolves `import`.
import { Sequelize, type ModelStatic, type Model } from 'sequelize';
import { autoreconnect, getReconnectStats, type ReconnectStats } from 'sequelize-autoreconnect';

export function install(sequelize: Sequelize, Item: ModelStatic<Model>): ReconnectStats {
  sequelize.use(autoreconnect({ retries: 1 }));
  sequelize.addHook('afterReconnect', (ctx) => void ctx.reconnected);
  void Item.findAll({ reconnect: { retries: 2 } });
  Item.init({}, { sequelize, autoReconnect: { retryWrites: 'never' } });
  // @ts-expect-error retries is a number
  autoreconnect({ retries: '1' });
  // @ts-expect-error a model option of the wrong type
  Item.init({}, { sequelize, autoReconnect: { retries: 'many' } });
  return getReconnectStats(sequelize);
}
