/**
 * Every `ts` and `js` code block in README.md and docs/ is compiled (strict, as a module of its
 * own, `sequelize-autoreconnect` resolved to src/), and the blocks marked to run are run against
 * the test server, so the examples cannot rot. Marker conventions: docs/development.md, "Code
 * blocks in the docs".
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { createDatabase } from './support/db';

const root = join(__dirname, '..');
const scratch = join(root, '.tmp', `doc-blocks-${process.pid}`);
const globals = join(__dirname, 'doc-blocks', 'globals.d.ts');
const modules = join(__dirname, 'doc-blocks', 'modules.d.ts');

/** What a fragment or a signature may use without importing it: the package's exports and Sequelize's usual names. */
const IN_SCOPE: Record<string, readonly string[]> = {
  'sequelize-autoreconnect': packageExports(),
  sequelize: ['Sequelize', 'Model', 'ModelStatic', 'QueryTypes', 'DataTypes', 'ConnectionError', 'Transaction', 'Options'],
  'sequelize/types/hooks': ['HookReturn'],
  'sequelize-typescript': ['Table', 'Column', 'DataType'],
};

/** The names src/index.ts exports, read from its text. */
function packageExports(): string[] {
  const index = readFileSync(join(root, 'src/index.ts'), 'utf8');
  return [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)]
    .flatMap((m) => m[1]!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim()))
    .filter(Boolean);
}

/**
 * Imports, appended to a fragment or signature, of every name in IN_SCOPE that the block does
 * not declare or import itself. Appended, not prepended, so that line numbers stay the block's.
 */
function scopeImports(code: string): string {
  const own = new Set([
    ...[...code.matchAll(/\b(?:interface|type|class|function|const|let|var|enum)\s+(\w+)/g)].map((m) => m[1]!),
    ...[...code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}/g)].flatMap((m) =>
      m[1]!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim()),
    ),
  ]);
  return Object.entries(IN_SCOPE)
    .map(([from, names]) => {
      const wanted = names.filter((n) => !own.has(n));
      return wanted.length > 0 ? `import { ${wanted.join(', ')} } from '${from}';` : '';
    })
    .join('\n');
}
const run = promisify(execFile);

type Mode = 'complete' | 'fragment' | 'signature' | 'run' | 'skip';

interface Block {
  /** Where it is: `docs/guide.md:42` (the fence's line). */
  readonly where: string;
  readonly line: number;
  readonly lang: 'ts' | 'js';
  readonly mode: Mode;
  readonly code: string;
  /** The scratch file it is compiled from. */
  readonly path: string;
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

const FENCE = /^```(ts|typescript|js|javascript)\s*$/;
const MARKER = /^<!-- doc-block: (fragment|signature|run|skip) -->$/;

/** The checked blocks of one Markdown file, with the marker on the line before each fence. */
export function extractBlocks(file: string, markdown: string): Omit<Block, 'path'>[] {
  const lines = markdown.split('\n');
  const blocks: Omit<Block, 'path'>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      // Skip the body of any other fenced block, so a fence inside it is not taken for one.
      if (lines[i]!.startsWith('```')) while (++i < lines.length && !lines[i]!.startsWith('```'));
      continue;
    }
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    assert.ok(end > i, `${file}:${i + 1}: unterminated code block`);
    const marker = MARKER.exec(lines[i - 1] ?? '');
    blocks.push({
      where: `${file}:${i + 1}`,
      line: i + 1,
      lang: open[1]!.startsWith('t') ? 'ts' : 'js',
      mode: (marker?.[1] as Mode | undefined) ?? 'complete',
      code: lines.slice(i + 1, end).join('\n'),
    });
    i = end;
  }
  return blocks;
}

function allBlocks(): Block[] {
  const files = [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))];
  return files.flatMap((file) => {
    const name = relative(root, file);
    return extractBlocks(name, readFileSync(file, 'utf8')).map((b) => ({
      ...b,
      path: join(
        scratch,
        `${name.replace(/[^\w]/g, '_')}_L${b.line}.${b.mode === 'signature' ? 'd.mts' : b.lang === 'ts' ? 'mts' : 'mjs'}`,
      ),
    }));
  });
}

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  types: ['node'],
  esModuleInterop: true,
  skipLibCheck: true,
  allowJs: true,
  checkJs: true,
  experimentalDecorators: true,
  paths: { 'sequelize-autoreconnect': [join(root, 'src/index.ts')] },
};

/** Compiles the blocks as one program, each its own module; returns `where: message` per error. */
function check(blocks: readonly Block[], extra: readonly string[]): string[] {
  const program = ts.createProgram([...blocks.map((b) => b.path), ...extra], compilerOptions);
  const byPath = new Map(blocks.map((b) => [b.path, b]));
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    const block = d.file && byPath.get(d.file.fileName);
    if (!block || d.start === undefined) return `${d.file?.fileName ?? '(program)'}: ${message}`;
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
    const [file] = block.where.split(':');
    return `${file}:${block.line + 1 + line}: ${message}`;
  });
}

describe('code blocks in README.md and docs/', () => {
  let blocks: Block[];

  before(() => {
    blocks = allBlocks();
    mkdirSync(scratch, { recursive: true });
    for (const b of blocks) {
      const scoped = b.mode === 'fragment' || b.mode === 'signature';
      writeFileSync(b.path, `${b.code}\n${scoped ? scopeImports(b.code) : ''}\nexport {};\n`);
    }
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds the blocks, each marker on the line before its fence', () => {
    assert.ok(blocks.length >= 40, `only ${blocks.length} blocks found`);
    assert.ok(blocks.some((b) => b.where.startsWith('README.md') && b.mode === 'run'));
    // A marker that is not right above a checked fence would silently mark nothing.
    const stray: string[] = [];
    for (const file of [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))]) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (l.startsWith('<!-- doc-block') && (!MARKER.test(l) || !FENCE.test(lines[i + 1] ?? '')))
          stray.push(`${relative(root, file)}:${i + 1}`);
      });
    }
    assert.deepEqual(stray, []);
  });

  it('type-checks every complete block on its own, with nothing declared for it', () => {
    assert.deepEqual(
      check(
        blocks.filter((b) => b.mode === 'complete' || b.mode === 'run'),
        [modules],
      ),
      [],
    );
  });

  it('type-checks every fragment and signature with the package in scope and the names declared in test/doc-blocks/globals.d.ts', () => {
    assert.deepEqual(
      check(
        blocks.filter((b) => b.mode === 'fragment' || b.mode === 'signature'),
        [globals, modules],
      ),
      [],
    );
  });

  it('runs the blocks marked to run against the test server, to completion', async () => {
    const runnable = blocks.filter((b) => b.mode === 'run');
    assert.ok(runnable.length > 0);
    const db = await createDatabase();
    try {
      for (const block of runnable) {
        const { stderr } = await run(process.execPath, ['--import', 'tsx', block.path], {
          cwd: root,
          env: { ...process.env, DATABASE_URL: db.url },
          timeout: 60_000,
        }).catch((error: unknown) => {
          throw new Error(`${block.where} failed: ${String(error)}`);
        });
        assert.equal(stderr, '', `${block.where} wrote to stderr`);
      }
    } finally {
      await db.drop();
    }
  });
});
