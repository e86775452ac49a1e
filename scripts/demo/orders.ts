/**
 * The demo's application: a small orders service. Every write carries a tag unique to that
 * logical write, so afterwards counting rows by tag tells, for each write, whether it was
 * lost, committed once, committed twice, or committed although the caller was told it failed.
 */
import { DataTypes, Op, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import { ConnectionLostError } from '../../src';

type Row = Model<Record<string, unknown>, Record<string, unknown>>;

export interface OrderModels {
  Product: ModelStatic<Row>;
  Order: ModelStatic<Row>;
  OrderLine: ModelStatic<Row>;
  Event: ModelStatic<Row>;
}

export const PRODUCTS = 50;
export const CUSTOMERS = 200;

export function defineModels(sequelize: Sequelize): OrderModels {
  const Product = sequelize.define<Row>('Product', {
    name: { type: DataTypes.TEXT, allowNull: false },
    priceCents: { type: DataTypes.INTEGER, allowNull: false },
    stock: { type: DataTypes.INTEGER, allowNull: false },
  });
  const Order = sequelize.define<Row>(
    'Order',
    {
      customerId: { type: DataTypes.INTEGER, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      totalCents: { type: DataTypes.INTEGER, allowNull: false },
      // Not unique on purpose: a write that runs twice shows up as two rows.
      tag: { type: DataTypes.TEXT, allowNull: false },
    },
    { indexes: [{ fields: ['customerId'] }, { fields: ['tag'] }] },
  );
  const OrderLine = sequelize.define<Row>('OrderLine', {
    orderId: { type: DataTypes.INTEGER, allowNull: false },
    productId: { type: DataTypes.INTEGER, allowNull: false },
    quantity: { type: DataTypes.INTEGER, allowNull: false },
  });
  const Event = sequelize.define<Row>('Event', {
    kind: { type: DataTypes.TEXT, allowNull: false },
    tag: { type: DataTypes.TEXT, allowNull: false },
  });
  return { Product, Order, OrderLine, Event };
}

/** Creates the tables and the catalogue (on a direct connection, before any fault). */
export async function seed(sequelize: Sequelize): Promise<void> {
  const { Product, Order } = defineModels(sequelize);
  await sequelize.sync();
  await Product.bulkCreate(
    Array.from({ length: PRODUCTS }, (_, i) => ({ name: `product ${i + 1}`, priceCents: 100 + ((i * 37) % 900), stock: 1_000_000 })),
  );
  await Order.bulkCreate(
    Array.from({ length: 400 }, (_, i) => ({ customerId: 1 + (i % CUSTOMERS), status: 'paid', totalCents: 1000, tag: `seed-${i}` })),
  );
}

export type OpKind = 'read' | 'write';

/** One logical write and what its caller was told. */
export interface WriteRecord {
  table: 'Orders' | 'Events';
  tag: string;
  succeeded: boolean;
}

export interface OpOutcome {
  name: string;
  kind: OpKind;
  /** The plugin told the app a whole transaction was lost and nothing committed; the app re-ran it. */
  appRetries: number;
  write?: WriteRecord;
}

export interface Workload {
  /** Runs one randomly chosen operation; rejects when it failed (`outcome` says what it was). */
  next(random: () => number, tag: string, outcome: OpOutcome): Promise<void>;
}

/**
 * The mix: 65% reads (catalogue, order history), 15% place an order (a transaction of four
 * statements), 10% ship an order (an UPDATE, idempotent, marked so), 10% record an event (a
 * plain INSERT). `withPlugin` adds what README tells users to do with the plugin's errors.
 */
export function ordersWorkload(sequelize: Sequelize, models: OrderModels, withPlugin: boolean): Workload {
  const { Product, Order, OrderLine, Event } = models;
  const int = (random: () => number, n: number): number => 1 + Math.floor(random() * n);

  const placeOrder = (customerId: number, productId: number, quantity: number, tag: string): Promise<void> =>
    sequelize.transaction(async (transaction) => {
      const product = await Product.findByPk(productId, { transaction });
      const price = Number(product?.get('priceCents') ?? 0);
      const order = await Order.create({ customerId, status: 'paid', totalCents: price * quantity, tag }, { transaction });
      await OrderLine.create({ orderId: order.get('id'), productId, quantity }, { transaction });
      await Product.decrement('stock', { by: quantity, where: { id: productId }, transaction });
    });

  return {
    async next(random, tag, outcome) {
      const dice = random();
      if (dice < 0.35) {
        outcome.name = 'browse catalogue';
        outcome.kind = 'read';
        const first = int(random, PRODUCTS - 5);
        await Product.findAll({ where: { id: { [Op.between]: [first, first + 4] } } });
      } else if (dice < 0.65) {
        outcome.name = 'order history';
        outcome.kind = 'read';
        await Order.findAll({ where: { customerId: int(random, CUSTOMERS) }, order: [['id', 'DESC']], limit: 10 });
      } else if (dice < 0.8) {
        outcome.name = 'place order';
        outcome.kind = 'write';
        outcome.write = { table: 'Orders', tag, succeeded: false };
        const args = [int(random, CUSTOMERS), int(random, PRODUCTS), int(random, 3), tag] as const;
        try {
          await placeOrder(...args);
        } catch (error) {
          // README: a lost transaction was rolled back by the server, nothing of it committed;
          // run the whole transaction again. Only the plugin can say so.
          if (!(withPlugin && error instanceof ConnectionLostError && error.transactionLost && !error.mayHaveExecuted)) throw error;
          outcome.appRetries++;
          await placeOrder(...args);
        }
        outcome.write.succeeded = true;
      } else if (dice < 0.9) {
        outcome.name = 'ship order';
        outcome.kind = 'write';
        // Setting a status is idempotent: the plugin may run it again on a new connection.
        await Order.update({ status: 'shipped' }, { where: { id: int(random, 400) }, reconnect: { idempotent: true } });
      } else {
        outcome.name = 'record event';
        outcome.kind = 'write';
        outcome.write = { table: 'Events', tag, succeeded: false };
        await Event.create({ kind: 'checkout-viewed', tag });
        outcome.write.succeeded = true;
      }
    },
  };
}
