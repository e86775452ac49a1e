/**
 * One source of truth for the plugin's defaults, checked three ways: the README's options
 * table, the `@default` tags of src/core/option-types.ts (what editors show), and what
 * `resolveOptions(undefined)` fills in. Any option missing from one of them, or any default
 * that differs, fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { resolveOptions } from '../../src/core/options';

const root = join(__dirname, '..', '..');

/** A default as written: `1`, `'unsent'`, `true`, `1800000 (30 minutes)`, `{ baseMs: 100, maxMs: 2000 }`. */
export function parseDefault(text: string): unknown {
  const value = text.trim().replace(/\s+\(.*\)$/, '');
  const object = /^\{(.*)\}$/.exec(value);
  if (object) {
    return Object.fromEntries(
      object[1]!
        .split(',')
        .map((pair) => pair.split(':').map((s) => s.trim()))
        .map(([key, v]) => [key!, parseDefault(v ?? '')]),
    );
  }
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^'[^']*'$/.test(value)) return value.slice(1, -1);
  if (/^\d[\d_]*$/.test(value)) return Number(value.replaceAll('_', ''));
  throw new Error(`unreadable default: ${JSON.stringify(text)}`);
}

/** The README's options table: option name to its default cell. */
function readmeDefaults(): Map<string, unknown> {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  const header = lines.findIndex((l) => /^\|\s*option\s*\|\s*default\s*\|/.test(l));
  assert.ok(header >= 0, 'README.md has no "| option | default |" table');
  const rows = new Map<string, unknown>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [name, value] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim().replace(/^`(.*)`$/, '$1'));
    rows.set(name!, parseDefault(value!));
  }
  return rows;
}

/** Every `@default` in option-types.ts, by interface and property. */
function tsdocDefaults(): Map<string, Map<string, unknown>> {
  const path = join(root, 'src/core/option-types.ts');
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const interfaces = new Map<string, Map<string, unknown>>();
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    const members = new Map<string, unknown>();
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member)) continue;
      const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'default');
      if (tag) members.set(member.name.getText(source), parseDefault(ts.getTextOfJSDocComment(tag.comment) ?? ''));
    }
    interfaces.set(statement.name.text, members);
  }
  return interfaces;
}

/** What `resolveOptions(undefined)` fills in, by option name as users write it. */
function resolvedDefaults(): Map<string, unknown> {
  const { hygiene, ...rest } = resolveOptions(undefined);
  return new Map(Object.entries({ ...rest, ...hygiene }));
}

describe('option defaults', () => {
  it('reads defaults as written', () => {
    assert.equal(parseDefault('1800000 (30 minutes)'), 1_800_000);
    assert.equal(parseDefault('2000 (or `baseMs`, if larger)'), 2000);
    assert.deepEqual(parseDefault('{ baseMs: 100, maxMs: 2000 }'), { baseMs: 100, maxMs: 2000 });
    assert.equal(parseDefault("'unsent'"), 'unsent');
    assert.throws(() => parseDefault('about 2 s'), /unreadable default/);
  });

  it("the README's options table, the TSDoc @default tags and resolveOptions(undefined) agree", () => {
    const tsdoc = tsdocDefaults();
    const { BackoffOptions: backoff, ...rest } = Object.fromEntries(tsdoc);
    assert.ok(backoff && backoff.size > 0, 'no @default in BackoffOptions');
    // Options of autoreconnect(): the interfaces it extends, `backoff` as the object of its parts.
    const documented = new Map<string, unknown>([['backoff', Object.fromEntries(backoff)]]);
    for (const name of ['RetryOptions', 'PoolHygieneOptions', 'AutoReconnectOptions']) {
      assert.ok(rest[name], `option-types.ts has no ${name}`);
      for (const [option, value] of rest[name]) documented.set(option, value);
    }
    const readme = readmeDefaults();
    const resolved = resolvedDefaults();
    const names = [...new Set([...documented.keys(), ...readme.keys(), ...resolved.keys()])].sort();
    const table = names.map((name) => ({ name, readme: readme.get(name), tsdoc: documented.get(name), resolved: resolved.get(name) }));
    const differing = table.filter(
      (row) => !isDeepEqual(row.readme, row.tsdoc) || !isDeepEqual(row.tsdoc, row.resolved) || row.resolved === undefined,
    );
    assert.deepEqual(differing, []);
    assert.ok(names.length >= 10, names.join(', '));
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
