/**
 * A raw statement that only writes rows (INSERT, UPDATE, DELETE, MERGE), and only one: safe
 * inside a transaction block, unlike VACUUM, CREATE DATABASE or CREATE INDEX CONCURRENTLY, and
 * unlike `INSERT …; COMMIT` or `INSERT …; VACUUM`, whose later statements would end or break it.
 */
export function isPlainDml(sql: string): boolean {
  return /^\s*(insert|update|delete|merge)\b/i.test(sql) && !severalStatements(sql);
}

/**
 * Does text follow a `;` outside quotes and comments? PostgreSQL's lexical rules, read so that
 * a doubt counts as yes (an unterminated quote or comment; a backslash in a plain string, which
 * escapes only under `standard_conforming_strings = off`, is taken literally, so such a string
 * can only end early and show a `;` that is not there): a false yes merely costs verification.
 */
export function severalStatements(sql: string): boolean {
  let ended = false;
  for (let i = 0; i < sql.length;) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? sql.length : eol + 1;
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(sql, i);
      if (i < 0) return true;
    } else if (c === ';' || /\s/.test(c)) {
      ended ||= c === ';';
      i++;
    } else if (ended) {
      return true;
    } else if (c === "'" || c === '"') {
      // E'…' strings escape with a backslash; elsewhere a doubled quote is the only escape.
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
      i = quoteEnd(sql, i, c, escapes);
      if (i < 0) return true;
    } else if (c === '$' && dollarTag(sql, i)) {
      const tag = dollarTag(sql, i)!;
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) return true;
      i = close + tag.length;
    } else {
      i++;
    }
  }
  return false;
}

const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y;

/** The `$tag$` (or `$$`) opening a dollar-quoted string at `i`: not `$1`, nor a `$` inside an identifier. */
function dollarTag(sql: string, i: number): string | undefined {
  if (/[\w$\u0080-\uffff]/.test(sql[i - 1] ?? '')) return undefined;
  DOLLAR_TAG.lastIndex = i;
  return DOLLAR_TAG.exec(sql)?.[0];
}

/** Index after the block comment opening at `start` (PostgreSQL nests them), or -1 if it never ends. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  for (let i = start; i < sql.length - 1; i++) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i++;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i++;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Index after the quoted text opening at `start`, or -1 if it never ends. */
function quoteEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  for (let i = start + 1; i < sql.length; i++) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') i++;
    else if (c === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  return -1;
}
