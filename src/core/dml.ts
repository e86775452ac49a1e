/**
 * A raw statement that only writes rows (INSERT, UPDATE, DELETE, or a WITH that leads to one):
 * safe inside a transaction block, unlike VACUUM, CREATE DATABASE or CREATE INDEX CONCURRENTLY.
 */
export function isPlainDml(sql: string): boolean {
  return /^\s*(insert|update|delete|merge)\b/i.test(sql);
}
