import type { Model, Sequelize } from 'sequelize';
import { defineModels } from './models';
import { Recorder, type StepOutcome } from './record';
import { errorSteps, rawQuerySteps, transactionSteps } from './workload-more';

/** An association mixin (`user.createPost(…)`), which Sequelize adds at run time. */
export function mixin(instance: Model, method: string, ...args: unknown[]): Promise<unknown> {
  const fn = (instance as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
  if (typeof fn !== 'function') throw new TypeError(`no ${method} on ${instance.constructor.name}`);
  return fn.apply(instance, args);
}

export interface WorkloadRun {
  readonly outcomes: StepOutcome[];
  readonly hookCalls: string[];
}

/**
 * An ordinary application's use of Sequelize, step by step, on an empty database: every step's
 * result or error is recorded, so that two runs (bare, and with the plugin) can be compared.
 */
export async function runWorkload(sequelize: Sequelize): Promise<WorkloadRun> {
  const hookCalls: string[] = [];
  const models = defineModels(sequelize, hookCalls);
  const { User, Profile, Post, Tag, Counter } = models;
  const r = new Recorder();
  const byId = { order: [['id', 'ASC']] as [string, string][] };

  await r.step('authenticate', () => sequelize.authenticate());
  await r.step('sync({ force: true })', async () => {
    await sequelize.sync({ force: true });
    return (await sequelize.getQueryInterface().showAllTables()).sort();
  });

  // CRUD
  await r.step('create', () => User.create({ name: 'Ada', email: 'ADA@example.com', age: 36 }));
  await r.step('create more', async () => [
    await User.create({ name: 'Bob', email: 'bob@example.com', age: 17 }),
    await User.create({ name: 'Cy', email: 'cy@example.com', age: 70 }),
  ]);
  await r.step('findAll', () => User.findAll(byId));
  await r.step('findAll raw with attributes', () => User.findAll({ ...byId, raw: true, attributes: ['id', 'name'] }));
  await r.step('findByPk', () => User.findByPk(2));
  await r.step('findByPk missing', () => User.findByPk(999));
  await r.step('findOne where', () => User.findOne({ where: { email: 'ada@example.com' } }));
  await r.step('save and reload', async () => {
    const ada = await User.findByPk(1, { rejectOnEmpty: true });
    ada.set('age', 37);
    await ada.save();
    return ada.reload();
  });
  await r.step('aggregates', async () => [await User.count(), await User.max('age'), await User.min('age'), await User.sum('age')]);
  await r.step('findAndCountAll', () => User.findAndCountAll({ ...byId, limit: 2, offset: 1 }));
  await r.step('findOrCreate existing', () => User.findOrCreate({ where: { name: 'Ada' }, defaults: { email: 'other@example.com' } }));
  await r.step('findOrCreate new', () => User.findOrCreate({ where: { name: 'Dee' }, defaults: { email: 'dee@example.com', age: 25 } }));
  await r.step('upsert insert', () => Counter.upsert({ key: 'a', value: 1 }));
  await r.step('upsert update', () => Counter.upsert({ key: 'a', value: 2 }));
  await r.step('increment and decrement', async () => {
    await User.increment('visits', { by: 2, where: { id: 1 } });
    const ada = await User.findByPk(1, { rejectOnEmpty: true });
    await ada.increment('visits');
    await ada.decrement('age', { by: 1 });
    return ada.reload();
  });

  // Associations and eager loading
  await r.step('association mixins', async () => {
    const ada = await User.findByPk(1, { rejectOnEmpty: true });
    await mixin(ada, 'createProfile', { bio: 'analytical engines' });
    const notes = (await mixin(ada, 'createPost', { title: 'Notes', body: 'on the engine' })) as Model;
    const sketch = (await mixin(ada, 'createPost', { title: 'Sketch' })) as Model;
    const tags = await Tag.bulkCreate([{ label: 'math' }, { label: 'history' }], { returning: true });
    await mixin(notes, 'addTags', tags);
    await mixin(sketch, 'addTag', tags[1]);
    return [await mixin(ada, 'countPosts'), await mixin(notes, 'getTags', byId), await mixin(sketch, 'getAuthor')];
  });
  await r.step('eager loading, nested', () =>
    User.findAll({
      include: [Profile, { model: Post, as: 'posts', include: [Tag] }],
      order: [
        ['id', 'ASC'],
        [{ model: Post, as: 'posts' }, 'id', 'ASC'],
        [{ model: Post, as: 'posts' }, Tag, 'id', 'ASC'],
      ],
    }),
  );
  await r.step('eager loading, required with where', () =>
    Post.findAll({
      include: [
        { model: Tag, where: { label: 'math' } },
        { model: User, as: 'author', attributes: ['name'] },
      ],
    }),
  );
  await r.step('eager loading, separate', () =>
    User.findAll({ ...byId, include: [{ model: Post, as: 'posts', separate: true, order: [['id', 'DESC']] }] }),
  );

  // Scopes and paranoid models
  await r.step('scope', () => User.scope('adults').findAll(byId));
  await r.step('scope with arguments', () => User.scope({ method: ['named', 'B'] }).findAll());
  await r.step('paranoid destroy, restore, unscoped', async () => {
    const sketch = await Post.findOne({ where: { title: 'Sketch' }, rejectOnEmpty: true });
    await sketch.destroy();
    const counts = [await Post.count(), await Post.unscoped().count({ paranoid: false })];
    await sketch.restore();
    return [...counts, await Post.count()];
  });

  // Bulk operations
  await r.step('bulkCreate', () => Tag.bulkCreate([{ label: 'c' }, { label: 'd' }, { label: 'e' }], { returning: true }));
  await r.step('bulkCreate updateOnDuplicate', () =>
    Counter.bulkCreate(
      [
        { key: 'a', value: 10 },
        { key: 'b', value: 20 },
      ],
      { updateOnDuplicate: ['value'] },
    ),
  );
  await r.step('bulk update', () => User.update({ age: 18 }, { where: { name: 'Bob' } }));
  await r.step('bulk update returning', () => Counter.update({ value: 0 }, { where: { key: ['a', 'b'] }, returning: true }));
  await r.step('bulk destroy', () => Tag.destroy({ where: { label: ['d', 'e'] } }));
  await r.step('destroy with individual hooks', () => User.destroy({ where: { name: 'Cy' }, individualHooks: true }));

  await transactionSteps(r, sequelize, models, hookCalls);
  await rawQuerySteps(r, sequelize);
  await errorSteps(r, sequelize, models);

  await r.step('drop', async () => {
    await sequelize.getQueryInterface().dropTable('post_tags');
    await sequelize.drop();
    return sequelize.getQueryInterface().showAllTables();
  });
  return { outcomes: r.outcomes, hookCalls };
}
