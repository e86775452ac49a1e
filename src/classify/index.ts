import { postgres } from './postgres';
import type { DialectClassifier } from './types';

const classifiers: Readonly<Record<string, DialectClassifier>> = { postgres };

/** The classifier for a Sequelize dialect name, or a clear error for one not supported yet. */
export function classifierFor(dialect: string): DialectClassifier {
  const classifier = Object.prototype.hasOwnProperty.call(classifiers, dialect) ? classifiers[dialect] : undefined;
  if (!classifier) {
    throw new Error(
      `sequelize-autoreconnect does not support the '${dialect}' dialect yet (supported: ${Object.keys(classifiers).join(', ')})`,
    );
  }
  return classifier;
}

export type { DialectClassifier, QueryFailure, ConnectFailure } from './types';
