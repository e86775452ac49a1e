/** A tiny command-line parser: `--flag` and `--name value`, nothing else, unknown names rejected. */
export interface ArgSpec {
  flags?: readonly string[];
  numbers?: readonly string[];
  /** `--name value` with one of the listed values. */
  choices?: Readonly<Record<string, readonly string[]>>;
}

export interface Args {
  flag(name: string): boolean;
  number(name: string, fallback: number): number;
  choice<T extends string>(name: string, fallback: T): T;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec, usage: string): Args {
  const flags = new Set<string>();
  const numbers = new Map<string, number>();
  const choices = new Map<string, string>();
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
    } else if (spec.choices?.[name]) {
      const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const allowed = spec.choices[name];
      if (raw === undefined || !allowed.includes(raw))
        fail(`--${name} must be one of ${allowed.join(', ')}, got ${raw ?? 'nothing'}`, usage);
      choices.set(name, raw);
    } else {
      fail(`unknown argument ${arg}`, usage);
    }
  }
  return {
    flag: (name) => flags.has(name),
    number: (name, fallback) => numbers.get(name) ?? fallback,
    choice: <T extends string>(name: string, fallback: T) => (choices.get(name) as T | undefined) ?? fallback,
  };
}

function fail(message: string, usage: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}
