/** A tiny command-line parser: `--flag` and `--name value`, nothing else, unknown names rejected. */
export interface ArgSpec {
  flags?: readonly string[];
  numbers?: readonly string[];
}

export interface Args {
  flag(name: string): boolean;
  number(name: string, fallback: number): number;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec, usage: string): Args {
  const flags = new Set<string>();
  const numbers = new Map<string, number>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.replace(/^--/, '').split('=')[0]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    if (spec.flags?.includes(name) && arg === `--${name}`) {
      flags.add(name);
    } else if (spec.numbers?.includes(name)) {
      const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const value = Number(raw);
      if (raw === undefined || !Number.isFinite(value) || value <= 0)
        fail(`--${name} needs a positive number, got ${raw ?? 'nothing'}`, usage);
      numbers.set(name, value);
    } else {
      fail(`unknown argument ${arg}`, usage);
    }
  }
  return {
    flag: (name) => flags.has(name),
    number: (name, fallback) => numbers.get(name) ?? fallback,
  };
}

function fail(message: string, usage: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}
