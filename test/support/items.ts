import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';

// Its own module, free of node:test: the benchmarks import it, and node:test's harness enables
// an async hook that makes every promise allocate more than it does in an application.

export type ItemModel = ModelStatic<Model<{ id: number; tag: string }, { tag: string }>>;

/** The `items` table as a model on this instance. */
export function defineItem(sequelize: Sequelize): ItemModel {
  return sequelize.define('Item', { tag: { type: DataTypes.TEXT, allowNull: false } }, { tableName: 'items' }) as ItemModel;
}
