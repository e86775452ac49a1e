import { kModel } from '../policy';
import type { PluginState } from '../state';

type RawSelect = (tableName: unknown, options: object | undefined, attributeSelector: unknown, model?: unknown) => Promise<unknown>;
type BulkDelete = (tableName: unknown, where: unknown, options: object | undefined, model?: unknown) => Promise<unknown>;

/**
 * Sequelize passes the model to `rawSelect` (count, max, sum, ...) and `bulkDelete`
 * (`Model.destroy`) as an argument but not in the options that reach the query, so the
 * model's policy and hooks would not apply to them. Tag those options with it, on this
 * instance's query interface only.
 */
export function patchQueryInterface(state: PluginState): void {
  const qi = state.sequelize.getQueryInterface() as unknown as { rawSelect: RawSelect; bulkDelete: BulkDelete };
  const { rawSelect, bulkDelete } = qi;
  qi.rawSelect = function (tableName, options, attributeSelector, model) {
    return rawSelect.call(this, tableName, tagged(options, model), attributeSelector, model);
  };
  qi.bulkDelete = function (tableName, where, options, model) {
    return bulkDelete.call(this, tableName, where, tagged(options, model), model);
  };
}

function tagged(options: object | undefined, model: unknown): object | undefined {
  return typeof model === 'function' ? { ...options, [kModel]: model } : options;
}
