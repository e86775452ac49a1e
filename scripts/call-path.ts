/**
 * `npm run call-path`: how a lost statement travels through src/, measured rather than read.
 *
 * src/ is compiled into a temporary folder with a call at the top of every function that notes
 * its file; the engine then recovers lost statements against the fake host of the unit tests
 * (no Sequelize, no server, virtual time). For each scenario it prints the files in the order the
 * flow enters them, how many it visits, and its re-entries: calls into a file the flow had
 * visited and left (a call within one file, or back to a caller on return, is none). Issue 20's
 * aim: at most 5, held by `npm run lint` (`--check`).
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

/** Inserts `globalThis.__callPath?.(file)` at the top of every function body of a src/ file. */
function tracer(context: ts.TransformationContext): ts.Transformer<ts.SourceFile> {
  const f = context.factory;
  return (source) => {
    if (!source.fileName.startsWith(SRC + sep) && !source.fileName.startsWith(SRC + '/')) return source;
    const file = relative(SRC, source.fileName).split(sep).join('/');
    const note = (fn: ts.Node) =>
      f.createCallChain(
        f.createPropertyAccessExpression(f.createIdentifier('globalThis'), '__callPath'),
        f.createToken(ts.SyntaxKind.QuestionDotToken),
        undefined,
        [f.createStringLiteral(file), f.createStringLiteral(`${file}:${nameOf(fn)}`)],
      );
    // A function's name, or its line for an anonymous one.
    const nameOf = (fn: ts.Node): string => {
      const named = fn as { name?: ts.Node };
      const line = source.getLineAndCharacterOfPosition(fn.getStart(source)).line + 1;
      return named.name && ts.isIdentifier(named.name) ? named.name.text : `line ${line}`;
    };
    const visit = (node: ts.Node): ts.Node => {
      // A function's body: the note first.
      const fn = node.parent;
      if (ts.isBlock(node) && ts.isFunctionLike(fn) && (fn as { body?: ts.Node }).body === node) {
        const block = ts.visitEachChild(node, visit, context);
        return f.updateBlock(block, [f.createExpressionStatement(note(fn)), ...block.statements]);
      }
      // An arrow with an expression body: (note, expression).
      if (ts.isArrowFunction(node) && !ts.isBlock(node.body)) {
        const body = f.createParenthesizedExpression(
          f.createCommaListExpression([note(node), ts.visitNode(node.body, visit) as ts.Expression]),
        );
        return f.updateArrowFunction(
          node,
          node.modifiers,
          node.typeParameters,
          node.parameters,
          node.type,
          node.equalsGreaterThanToken,
          body,
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitEachChild(source, visit, context);
  };
}

/** Compiles src/ and the fake host, traced, into `out`. */
function compile(out: string): void {
  const host = join(ROOT, 'test', 'unit', 'support', 'fake-host.ts');
  const program = ts.createProgram([host], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    experimentalDecorators: true,
    skipLibCheck: true,
    rootDir: ROOT,
    outDir: out,
  });
  const result = program.emit(undefined, undefined, undefined, false, { before: [tracer] });
  if (result.emitSkipped) throw new Error('call-path: compiling src/ failed');
}

interface Path {
  /** Files in the order the flow enters them, a run of calls within one file shown once. */
  order: string[];
  /** Every function at its first call (`--functions`). */
  functions: string[];
  visited: number;
  reentries: string[];
}

/** Notes each call into src/: its file, and its caller's (from the stack), while recording. */
function record(out: string): { start(): void; stop(): Path } {
  const compiled = join(out, 'src') + sep;
  let on = false;
  let path: Path = { order: [], functions: [], visited: 0, reentries: [] };
  const seen = new Set<string>();
  const callerFile = (): string | undefined => {
    const holder: { stack?: string } = {};
    Error.captureStackTrace(holder, callPath);
    // Line 0 is the message, 1 the traced function, then its callers. A native frame between
    // (`new Promise`, an executor run at once) is skipped: the function that made it is the caller.
    for (const line of holder.stack?.split('\n').slice(2) ?? []) {
      const name = /\(?([^\s(]+):\d+:\d+\)?$/.exec(line)?.[1];
      if (name === undefined) continue;
      return name.startsWith(compiled) ? name.slice(compiled.length).replace(/\.js$/, '.ts').split(sep).join('/') : undefined;
    }
    return undefined;
  };
  const read = new Set<string>();
  function callPath(file: string, fn: string): void {
    // A function read already is not read again: only the first call of each counts.
    if (!on || read.has(fn)) return;
    read.add(fn);
    path.functions.push(fn);
    // Called back from outside src/ (a promise reaction, the host): from where the flow last was.
    const from = callerFile() ?? path.order[path.order.length - 1];
    if (from === file) return;
    if (seen.has(file)) path.reentries.push(`${from ?? '?'} → ${fn}`);
    seen.add(file);
    path.order.push(file);
  }
  (globalThis as { __callPath?: typeof callPath }).__callPath = callPath;
  return {
    start() {
      path = { order: [], functions: [], visited: 0, reentries: [] };
      seen.clear();
      read.clear();
      on = true;
    },
    stop() {
      on = false;
      path.visited = seen.size;
      return path;
    },
  };
}

type FakeHost = typeof import('../test/unit/support/fake-host');

/** Issue 20's aim for every scenario. */
const AIM = 5;
/** `--check` (in `npm run lint`): one line, and a failure past the aim. `--functions`: each function at its first call. */
const CHECK = process.argv.includes('--check');

/** Each scenario sets up a fake host and returns the operation to follow. */
const SCENARIOS: Array<{ name: string; setUp(fake: FakeHost): () => Promise<unknown> }> = [
  {
    name: 'a lost read, run again at once on a new connection',
    setUp: ({ harness, query, fail }) => {
      const { facade } = harness({});
      return () => facade.watch(query('SELECT'), 'SELECT 1', undefined, Promise.reject(fail('lost-unsent')));
    },
  },
  {
    name: 'a lost read while the server is down a moment: a refused connect, a backoff, a new connection',
    setUp: ({ harness, query, fail }) => {
      const { facade } = harness({ retries: 3 }, { connects: [fail('transient')] });
      return () => facade.watch(query('SELECT'), 'SELECT 1', undefined, Promise.reject(fail('lost-unsent')));
    },
  },
  {
    name: 'a lost write that may have run: given up (mayHaveExecuted)',
    setUp: ({ harness, query, fail }) => {
      const { facade } = harness({});
      return () => facade.watch(query('INSERT'), 'INSERT INTO t VALUES (1)', undefined, Promise.reject(fail('lost-sent'))).catch(() => {});
    },
  },
];

async function main(): Promise<void> {
  // Under node_modules, so that the compiled files find the packages src/ imports.
  // Its real path: stack frames name files by it (node_modules may be a link).
  const out = realpathSync(mkdtempSync(join(ROOT, 'node_modules', '.call-path-')));
  try {
    compile(out);
    const recorder = record(out);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fake = require(join(out, 'test', 'unit', 'support', 'fake-host.js')) as FakeHost;
    let worst = 0;
    for (const scenario of SCENARIOS) {
      const operation = scenario.setUp(fake);
      recorder.start();
      await operation();
      const path = recorder.stop();
      worst = Math.max(worst, path.reentries.length);
      if (CHECK) continue;
      console.log(`\n${scenario.name}\n  ${path.visited} files, ${path.reentries.length} re-entries`);
      console.log(`  path: ${path.order.join(' → ')}`);
      if (path.reentries.length > 0) console.log(`  re-entries: ${path.reentries.join('; ')}`);
      if (process.argv.includes('--functions')) console.log(`  functions: ${path.functions.join(' → ')}`);
    }
    if (CHECK) console.log(`call-path: ${SCENARIOS.length} scenarios, at most ${worst} re-entries (aim: at most ${AIM})`);
    else console.log(`\nmost re-entries: ${worst} (aim: at most ${AIM})`);
    if (CHECK && worst > AIM) process.exitCode = 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
