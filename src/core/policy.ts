import { decoratedOptions, type ModelReconnectOptions } from './decorations';
import { mergeOptions, validateOptions, validateQueryOption, type ReconnectQueryOption, type ResolvedOptions } from './options';

/** The rules for one operation: query option > model (decorator, then model options) > plugin. */
export interface Policy extends ResolvedOptions {
  /** The caller marked the statement safe to run twice. */
  readonly idempotent: boolean;
}

export interface ModelLike {
  readonly name?: string;
  readonly options?: { autoReconnect?: unknown };
}

/** Where the rules come from: the plugin's options and a cache of each model's merged ones. */
export interface PolicySource {
  readonly options: ResolvedOptions;
  readonly modelPolicies: WeakMap<object, ResolvedOptions>;
  /**
   * Some policy (the plugin's, a model's or a call's) asked for `retryWrites: 'verified'`: only
   * then does a statement cost a policy lookup before it runs.
   */
  verifiedSeen: boolean;
  /** Why an option that settles outcomes (verified writes) cannot work on this instance's dialect, if it cannot. */
  readonly settlingUnsupported: (option: string) => string | undefined;
}

/**
 * Sequelize leaves `options.model` unset for aggregates (count, max, ...) and bulk deletes; the
 * query-interface patch tags those options with the model under this key instead (only those:
 * the hot path copies no key of ours into options).
 */
export const kModel: unique symbol = Symbol('sequelize-autoreconnect.model');

export interface CarriesModel {
  model?: unknown;
  [kModel]?: unknown;
  reconnect?: unknown;
}

/** The model a statement belongs to, if any. */
export function modelOf(options: CarriesModel): ModelLike | undefined {
  const model = options.model ?? options[kModel];
  return typeof model === 'function' ? model : undefined;
}

/**
 * Fails fast on a mistyped per-call `reconnect` option or model `autoReconnect` option, at the
 * first query rather than at the first lost connection. A WeakMap hit once a model is known.
 */
export function checkOptions(source: PolicySource, options: CarriesModel): void {
  const model = modelOf(options);
  if (model) modelPolicy(source, model);
  if (options.reconnect === undefined) return;
  const perCall = validateQueryOption(options.reconnect);
  if (perCall === false || perCall.retryWrites !== 'verified') return;
  refuseVerified(source, 'query option `reconnect.retryWrites');
  source.verifiedSeen = true;
}

/** Only called once something failed: nothing here runs on a query that succeeds. */
export function policyFor(source: PolicySource, options: CarriesModel): Policy {
  const model = modelOf(options);
  const base = model ? modelPolicy(source, model) : source.options;
  const perCall: ReconnectQueryOption | undefined = options.reconnect === undefined ? undefined : validateQueryOption(options.reconnect);
  if (perCall === false) return { ...base, retries: 0, idempotent: false };
  return {
    ...base,
    retries: perCall?.retries ?? base.retries,
    retryWrites: perCall?.retryWrites ?? base.retryWrites,
    idempotent: perCall?.idempotent === true,
  };
}

/**
 * A model's merged rules (checked: a mistyped option, or `'verified'` where the dialect cannot
 * settle outcomes, throws); `use()` checks the models defined before it with this.
 */
export function modelPolicy(source: PolicySource, model: ModelLike): ResolvedOptions {
  let policy = source.modelPolicies.get(model);
  if (!policy) {
    policy = [modelOptionsOf(model), decoratedOptions(model)].reduce<ResolvedOptions>(apply, source.options);
    if (policy.retryWrites === 'verified') {
      refuseVerified(source, `model ${model.name ?? ''} option \`retryWrites`.replace('  ', ' '));
      source.verifiedSeen = true;
    }
    source.modelPolicies.set(model, policy);
  }
  return policy;
}

/** Run as `'unsent'` where nothing can tell whether a lost COMMIT committed: refused instead. */
function refuseVerified(source: PolicySource, name: string): void {
  const why = source.settlingUnsupported(`${name}: 'verified'\``);
  if (!why) return;
  throw new TypeError(
    `sequelize-autoreconnect: ${why}: use 'unsent' (the default), or mark statements safe to run twice with { reconnect: { idempotent: true } }`,
  );
}

function apply(base: ResolvedOptions, layer: ModelReconnectOptions | undefined): ResolvedOptions {
  if (layer === undefined) return base;
  return layer === false ? { ...base, retries: 0 } : mergeOptions(base, layer);
}

/** `Model.init(attributes, { autoReconnect })` (or `@Table({ autoReconnect })`), validated. */
export function modelOptionsOf(model: ModelLike): ModelReconnectOptions | undefined {
  const value = model.options?.autoReconnect;
  if (value === undefined || value === false) return value;
  return validateOptions(value, `model ${model.name ?? ''} option`.replace('  ', ' '));
}
