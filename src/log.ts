/**
 * Debug output under the `sequelize:autoreconnect` namespace (`DEBUG=sequelize:autoreconnect`),
 * through the `debug` logger Sequelize already uses, so this adds no dependency.
 */
interface Debugger {
  (message: string): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { logger } = require('sequelize/lib/utils/logger') as { logger: { debugContext(name: string): Debugger } };

export const debug: Debugger = logger.debugContext('autoreconnect');
