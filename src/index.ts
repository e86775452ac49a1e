// Registers the hook names and `Sequelize.prototype.use`, and carries their type augmentations.
import './use';
import './augment';

export { autoreconnect, getReconnectStats, type SequelizePlugin } from './plugin';
export { ConnectionLostError, type ConnectionLostDetails, type ConnectFailureError } from './errors';
export type { AutoReconnectOptions, BackoffOptions, PoolHygieneOptions, RetryOptions, RetryWrites } from './core/option-types';
export type { ReconnectContext, AfterReconnectContext, ReconnectConfig, ReconnectFailure } from './hooks';
export type { ReconnectStats } from './engine/stats';
export {
  channels,
  type ReconnectEvents,
  type ReconnectEventBase,
  type ConnectionLostEvent,
  type ReconnectEvent,
  type RetryEvent,
  type GiveUpEvent,
  type RecoveredEvent,
  type ValidationFailedEvent,
  type SweepEvent,
  type RetiredEvent,
  type SettledEvent,
  type TransactionReplayedEvent,
  type SilenceDetectedEvent,
} from './engine/events';
export { instrumentOpenTelemetry, type OpenTelemetryOptions, type OpenTelemetryHandle } from './telemetry';
export type { GiveUpReason } from './core/decide';
export type { ReconnectQueryOption, ReconnectTransactionOption } from './core/option-types';
export { AutoReconnect, BeforeReconnect, AfterReconnect, type ModelReconnectOptions } from './decorators';
export {
  cachedCredentials,
  refreshCredentials,
  type Credentials,
  type CredentialsProvider,
  type CachedCredentialsOptions,
} from './credentials';
