/**
 * `npm run check:layout`: the architecture of src/, checked rather than hoped for.
 * - no import cycle, `import type` included (a cycle of types is a cycle of knowledge);
 * - the layers point one way: core (pure) ← dialects ← engine ← host ← plugin; the
 *   credentials helpers import no layer (no dialect knowledge);
 * - pure modules (core, a dialect's classifier and SQL lexer) import nothing but pure modules: no Sequelize,
 *   no Node, no driver, nothing with an effect;
 * - no source file over 250 lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const SRC = resolve(__dirname, '..', 'src');
const MAX_LINES = 250;

/** What each layer may import at run time (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  dialects: ['core'],
  engine: ['core', 'dialects', 'errors'],
  host: ['core', 'dialects', 'engine', 'errors'],
  // The credentials helpers read the hook context's classification; they know no dialect.
  credentials: [],
  // OpenTelemetry subscribes to the channels and knows nothing else of the plugin.
  telemetry: ['engine/events'],
};
const PURE = [/^core\//, /^dialects\/[^/]+\/(classify|dml)\.ts$/];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/**
 * Imports of a file: relative ones resolved to files under src, others by name; `types: false`
 * leaves out what is erased at run time (`import type`).
 */
function imports(file: string, { types }: { types: boolean }): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const node of source.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      // `import type`, and `import { type A, type B }`, are erased.
      const typeOnly = clause?.phaseModifier === ts.SyntaxKind.TypeKeyword;
      const bindings = clause?.namedBindings;
      const allTypes =
        !!clause &&
        !clause.name &&
        !!bindings &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((e) => e.isTypeOnly);
      if (types || (!typeOnly && !allTypes)) spec = node.moduleSpecifier;
    }
    if (ts.isExportDeclaration(node) && (types || !node.isTypeOnly)) spec = node.moduleSpecifier;
    if (!spec || !ts.isStringLiteral(spec)) continue;
    const text = spec.text;
    if (!text.startsWith('.')) {
      out.push(text);
      continue;
    }
    const base = resolve(dirname(file), text);
    const candidates = [`${base}.ts`, join(base, 'index.ts')];
    const found = candidates.find((c) => files(dirname(c)).includes(c));
    out.push(found ?? `${base} (unresolved)`);
  }
  return out;
}

const layerOf = (rel: string): string => (rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.ts$/, ''));

function main(): number {
  const problems: string[] = [];
  const all = files(SRC);
  const graph = new Map(all.map((f) => [f, imports(f, { types: false })]));
  const withTypes = new Map(all.map((f) => [f, imports(f, { types: true })]));
  for (const [file, deps] of graph) {
    const rel = relative(SRC, file);
    const lines = readFileSync(file, 'utf8').split('\n').length;
    if (lines > MAX_LINES) problems.push(`${rel}: ${lines} lines (at most ${MAX_LINES})`);
    const pure = PURE.some((p) => p.test(rel));
    const allowed = ALLOWED[layerOf(rel)];
    for (const dep of deps) {
      const depRel = dep.startsWith(SRC) ? relative(SRC, dep) : undefined;
      if (pure && !(depRel && PURE.some((p) => p.test(depRel)))) problems.push(`${rel} is pure but imports ${depRel ?? dep}`);
      const allows = (dep: string) => allowed?.includes(layerOf(dep)) || allowed?.includes(dep.replace(/\.ts$/, ''));
      if (allowed && depRel && layerOf(depRel) !== layerOf(rel) && !allows(depRel)) {
        problems.push(`${rel} (${layerOf(rel)}) imports ${depRel}: against the direction of the layers`);
      }
    }
  }
  // Cycles: depth-first search with colours.
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'visiting');
    stack.push(file);
    for (const dep of withTypes.get(file) ?? []) {
      if (!withTypes.has(dep)) continue;
      if (state.get(dep) === 'visiting') {
        problems.push(`import cycle: ${[...stack.slice(stack.indexOf(dep)), dep].map((f) => relative(SRC, f)).join(' → ')}`);
      } else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of all) if (!state.has(file)) visit(file);
  for (const p of problems) process.stderr.write(`${p}\n`);
  process.stdout.write(`check:layout: ${all.length} files, ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  return problems.length === 0 ? 0 : 1;
}

process.exit(main());
