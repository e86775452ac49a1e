import { DataTypes, Op, type Sequelize } from 'sequelize';

/** An ordinary application's models: validations, a unique column, associations, scopes and hooks. */
export function defineModels(sequelize: Sequelize, hookCalls: string[]) {
  const User = sequelize.define(
    'User',
    {
      name: { type: DataTypes.STRING, allowNull: false, unique: true },
      email: { type: DataTypes.STRING, allowNull: false, validate: { isEmail: true } },
      age: { type: DataTypes.INTEGER, validate: { min: 0, max: 150 } },
      visits: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    {
      tableName: 'users',
      scopes: {
        adults: { where: { age: { [Op.gte]: 18 } } },
        named: (prefix: string) => ({ where: { name: { [Op.like]: `${prefix}%` } } }),
      },
      hooks: {
        beforeValidate: (user) => {
          hookCalls.push(`beforeValidate:${String(user.get('name'))}`);
          if (typeof user.get('email') === 'string') user.set('email', (user.get('email') as string).toLowerCase());
        },
        afterCreate: (user) => void hookCalls.push(`afterCreate:${String(user.get('name'))}`),
        beforeBulkUpdate: () => void hookCalls.push('beforeBulkUpdate'),
        afterDestroy: (user) => void hookCalls.push(`afterDestroy:${String(user.get('name'))}`),
      },
    },
  );
  const Profile = sequelize.define('Profile', { bio: DataTypes.TEXT }, { tableName: 'profiles' });
  const Post = sequelize.define(
    'Post',
    { title: { type: DataTypes.STRING, allowNull: false }, body: DataTypes.TEXT },
    { tableName: 'posts', paranoid: true },
  );
  const Tag = sequelize.define('Tag', { label: { type: DataTypes.STRING, unique: true } }, { tableName: 'tags', timestamps: false });
  const Counter = sequelize.define(
    'Counter',
    { key: { type: DataTypes.STRING, primaryKey: true }, value: { type: DataTypes.INTEGER, allowNull: false } },
    { tableName: 'counters', timestamps: false },
  );
  User.hasOne(Profile, { foreignKey: { name: 'userId', allowNull: false }, onDelete: 'CASCADE' });
  Profile.belongsTo(User, { foreignKey: 'userId' });
  User.hasMany(Post, { foreignKey: { name: 'authorId', allowNull: false }, as: 'posts', onDelete: 'NO ACTION' });
  Post.belongsTo(User, { foreignKey: 'authorId', as: 'author' });
  Post.belongsToMany(Tag, { through: 'post_tags', foreignKey: 'postId', otherKey: 'tagId', timestamps: false });
  Tag.belongsToMany(Post, { through: 'post_tags', foreignKey: 'tagId', otherKey: 'postId', timestamps: false });
  sequelize.addHook('afterBulkSync', () => void hookCalls.push('afterBulkSync'));
  return { User, Profile, Post, Tag, Counter };
}

export type Models = ReturnType<typeof defineModels>;
