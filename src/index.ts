// Registers the hook names and `Sequelize.prototype.use`, and carries their type augmentations.
import './use';
import './augment';

export { autoreconnect, getReconnectStats, type SequelizePlugin } from './plugin';
export { ConnectionLostError, type ConnectionLostDetails } from './errors';
export type { AutoReconnectOptions, BackoffOptions, PoolHygieneOptions, RetryOptions, RetryWrites } from './options';
export type { ReconnectContext, AfterReconnectContext, ReconnectConfig } from './hooks';
export type { ReconnectStats } from './stats';
export type { GiveUpReason } from './decide';
export type { ReconnectQueryOption } from './options';
export { AutoReconnect, BeforeReconnect, AfterReconnect, type ModelReconnectOptions } from './decorators';
export {
  cachedCredentials,
  refreshCredentials,
  type Credentials,
  type CredentialsProvider,
  type CachedCredentialsOptions,
} from './credentials';
