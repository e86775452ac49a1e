// Registers the hook names and `Sequelize.prototype.use`, and carries their type augmentations.
import './use';

export { autoreconnect, getReconnectStats, type SequelizePlugin } from './plugin';
export { ConnectionLostError, type ConnectionLostDetails } from './errors';
export type { AutoReconnectOptions, BackoffOptions, RetryWrites } from './options';
export type { ReconnectContext, AfterReconnectContext, ReconnectConfig } from './hooks';
export type { ReconnectStats } from './stats';
export type { GiveUpReason } from './decide';
export type { ReconnectQueryOption } from './patches/query';
export { cachedCredentials, refreshCredentials, type Credentials, type CredentialsProvider, type CachedCredentialsOptions } from './credentials';
