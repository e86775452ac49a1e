import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import ts from 'typescript';

const root = join(__dirname, '..');
const apiPath = join(root, 'docs/API.md');

/** A Markdown document's headings and the text under each, code blocks included. */
interface Section {
  readonly level: number;
  readonly title: string;
  readonly body: string;
}

function sections(markdown: string): Section[] {
  const result: { level: number; title: string; lines: string[] }[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (heading) result.push({ level: heading[1]!.length, title: heading[2]!, lines: [] });
    else result.at(-1)?.lines.push(line);
  }
  // A section runs to the next heading of its level or above.
  return result.map((s, i) => {
    const end = result.findIndex((t, j) => j > i && t.level <= s.level);
    const body = result.slice(i, end === -1 ? undefined : end).flatMap((t, j) => (j === 0 ? t.lines : [`# ${t.title}`, ...t.lines]));
    return { level: s.level, title: s.title, body: body.join('\n') };
  });
}

/** GitHub's anchor for a heading. */
function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

interface PublicSurface {
  /** Every name src/index.ts exports, values and types. */
  readonly exports: string[];
  /** For each exported interface, class or object type: the fields it declares itself. */
  readonly fields: Map<string, string[]>;
  /** `Interface.member` for each member the package adds to Sequelize's types (`declare module`). */
  readonly augmentations: string[];
}

/** Reads the public surface with the TypeScript checker, as a consumer's compiler sees it. */
function publicSurface(): PublicSurface {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.build.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  assert.ok(config);
  const program = ts.createProgram([join(root, 'src/index.ts')], config.options);
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(join(root, 'src/index.ts'));
  assert.ok(index);
  const moduleSymbol = checker.getSymbolAtLocation(index);
  assert.ok(moduleSymbol);
  const srcDir = join(root, 'src');
  const ownDeclaration = (d: ts.Declaration) => !relative(srcDir, d.getSourceFile().fileName).startsWith('..');

  const exports: string[] = [];
  const fields = new Map<string, string[]>();
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    exports.push(exported.name);
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declaration = symbol.declarations?.[0];
    if (!declaration || !ownDeclaration(declaration)) continue;
    if (!(ts.isInterfaceDeclaration(declaration) || ts.isClassDeclaration(declaration))) continue;
    // Members written in this declaration itself; inherited ones are documented where they are declared.
    const own = declaration.members.flatMap((m) => (m.name && !ts.isConstructorDeclaration(m) ? [m.name.getText()] : []));
    if (own.length > 0) fields.set(exported.name, own);
  }

  const augmentations: string[] = [];
  for (const file of program.getSourceFiles().filter(ownDeclaration)) {
    ts.forEachChild(file, (node) => {
      if (!ts.isModuleDeclaration(node) || !ts.isStringLiteral(node.name) || !node.body || !ts.isModuleBlock(node.body)) return;
      for (const statement of node.body.statements) {
        if (!ts.isInterfaceDeclaration(statement)) continue;
        for (const member of statement.members) if (member.name) augmentations.push(`${statement.name.text}.${member.name.getText()}`);
      }
    });
  }
  return { exports, fields, augmentations };
}

describe('docs/API.md', () => {
  let api: string;
  let headings: Map<string, Section>;
  let surface: PublicSurface;

  before(() => {
    api = readFileSync(apiPath, 'utf8');
    headings = new Map(sections(api).map((s) => [s.title, s]));
    surface = publicSurface();
  });

  /** The section documenting `name`: a heading that is exactly the name in backticks. */
  function sectionOf(name: string): Section | undefined {
    return headings.get(`\`${name}\``);
  }

  it('has a section for every runtime export of the built package', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtime = Object.keys(require(join(root, 'dist/index.js')) as object);
    assert.ok(runtime.includes('autoreconnect'), 'the build exports nothing: run npm run build');
    assert.deepEqual(
      runtime.filter((name) => !sectionOf(name)),
      [],
    );
  });

  it('has a section for every name src/index.ts exports, types included', () => {
    assert.ok(surface.exports.includes('ReconnectContext') && surface.exports.includes('autoreconnect'), surface.exports.join());
    assert.deepEqual(
      surface.exports.filter((name) => !sectionOf(name)),
      [],
    );
  });

  it("names every field of each exported interface and class in that export's section", () => {
    assert.ok(surface.fields.get('ReconnectStats')?.includes('disconnects'), 'fields of ReconnectStats not found');
    const missing = [...surface.fields].flatMap(([name, own]) =>
      own.filter((field) => !new RegExp(`\\b${field}\\b`).test(sectionOf(name)?.body ?? '')).map((field) => `${name}.${field}`),
    );
    assert.deepEqual(missing, []);
  });

  it('has a section for every member the package adds to Sequelize’s types', () => {
    assert.ok(surface.augmentations.includes('Transactionable.reconnect'), surface.augmentations.join());
    assert.deepEqual(
      surface.augmentations.filter((name) => !sectionOf(name)),
      [],
    );
  });

  it('has working relative links in the README, the changelog, examples/README.md and docs/', () => {
    const broken: string[] = [];
    for (const file of [
      join(root, 'README.md'),
      join(root, 'CHANGELOG.md'),
      join(root, 'examples/README.md'),
      ...markdownFiles(join(root, 'docs')),
    ]) {
      const text = readFileSync(file, 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : join(dirname(file), path);
        if (!existsSync(resolved)) {
          broken.push(`${relative(root, file)}: ${target}`);
        } else if (anchor && resolved.endsWith('.md')) {
          const slugs = sections(readFileSync(resolved, 'utf8')).map((s) => slug(s.title));
          if (!slugs.includes(anchor)) broken.push(`${relative(root, file)}: ${target}`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('has working relative links inside the packed tarball: nothing a packed document links to is left out', () => {
    // --ignore-scripts: the file list without building dist/ (no document links into it).
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const packed = new Set((JSON.parse(out) as [{ files: { path: string }[] }])[0].files.map((f) => f.path));
    const broken: string[] = [];
    for (const file of [...packed].filter((f) => f.endsWith('.md'))) {
      for (const [, target] of readFileSync(join(root, file), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        const path = target!.split('#')[0]!;
        if (/^[a-z]+:/.test(target!) || path === '') continue;
        const resolved = posix.normalize(posix.join(posix.dirname(file), path)).replace(/\/$/, '');
        if (!packed.has(resolved) && ![...packed].some((f) => f.startsWith(`${resolved}/`))) broken.push(`${file}: ${target}`);
      }
    }
    assert.deepEqual(broken, []);
  });
});
