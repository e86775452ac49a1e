import { Column, DataType, Model, Table } from 'sequelize-typescript';

@Table({ tableName: 'example_nest_notes', timestamps: false })
export class Note extends Model {
  // An explicit DataType: tsx emits no decorator metadata to infer it from.
  @Column(DataType.STRING) text!: string;
}
