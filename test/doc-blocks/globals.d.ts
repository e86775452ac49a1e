// The names the fragments in README.md and docs/ use without defining them, as an application
// would have them. An ambient script (no import or export): visible to every fragment.

declare const url: string;
declare const sql: string;
declare const sequelize: import('sequelize').Sequelize;
declare const attributes: import('sequelize').ModelAttributes;
declare const id: number;
declare const total: number;
declare const key: string;
declare const value: number;

declare const Order: import('sequelize').ModelStatic<import('sequelize').Model>;
declare const Counter: import('sequelize').ModelStatic<import('sequelize').Model>;
declare const LedgerEntry: import('sequelize').ModelStatic<import('sequelize').Model>;
declare const CacheEntry: import('sequelize').ModelStatic<import('sequelize').Model>;

/** What `cachedCredentials` returned. */
declare const vault: import('sequelize-autoreconnect').CredentialsProvider;
declare const vaultClient: { read(path: string): Promise<{ data: { username: string; password: string } }> };
declare function readFromVault(path: string): Promise<{ username: string; password: string }>;
declare function readDatabaseCreds(): Promise<{ username: string; password: string }>;
declare const secrets: { databasePassword(): Promise<string> };
declare const metrics: { increment(name: string): void };
declare const reconnects: { inc(labels: Record<string, string>): void };
declare function retryWholeTransaction(): Promise<unknown>;
declare function retryLater(order: unknown): Promise<unknown>;
declare function queueForRetry(order: unknown): Promise<unknown>;
declare function reconcile(order: unknown): Promise<unknown>;
declare function checkWhetherTheOrderExists(id: number): Promise<unknown>;
