import { TrainError } from '../errors.js';

/*
 * Command-line flags: `--name value`, `--name=value`, bare `--name` for switches, repeatable flags collected in
 * order. Each command declares its flags; an unknown one is an error that lists the command's flags.
 */

export class UsageError extends TrainError {
  override name = 'UsageError';
}

export interface FlagSpec {
  name: string;
  /** Placeholder of the value (absent: a switch that takes none). */
  value?: string;
  help: string;
  /** The value may be left out (`--resume` alone). */
  optionalValue?: boolean;
  repeatable?: boolean;
}

export interface ParsedArgs {
  /** Flag name → its values in order (a switch or a bare optional flag has the value `true`). */
  values: Map<string, (string | true)[]>;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, (string | true)[]>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('--')) throw new UsageError(`${command}: unexpected argument '${token}' (options start with --; see --help)`);
    const eq = token.indexOf('=');
    const name = token.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`${command}: unknown option --${name}. Options: ${specs.map((s) => `--${s.name}`).join(', ')}`);
    let value: string | true;
    if (eq >= 0) {
      if (!spec.value) throw new UsageError(`${command}: --${name} takes no value`);
      value = token.slice(eq + 1);
    } else if (!spec.value) {
      value = true;
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      value = argv[++i]!;
    } else if (spec.optionalValue) {
      value = true;
    } else {
      throw new UsageError(`${command}: --${name} needs a value (${spec.value})`);
    }
    const list = values.get(name) ?? [];
    if (list.length > 0 && !spec.repeatable) throw new UsageError(`${command}: --${name} is given twice`);
    list.push(value);
    values.set(name, list);
  }
  return { values };
}

/** The single value of a flag, if given. */
export function flag(args: ParsedArgs, name: string): string | true | undefined {
  return args.values.get(name)?.[0];
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = flag(args, name);
  return typeof v === 'string' ? v : undefined;
}

export function numberFlag(args: ParsedArgs, name: string, { integer = false } = {}): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} needs ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  return n;
}

export function formatHelp(usage: string, summary: string, specs: readonly FlagSpec[], details = ''): string {
  const left = specs.map((s) => `  --${s.name}${s.value ? (s.optionalValue ? ` [${s.value}]` : ` ${s.value}`) : ''}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = specs.map((s, i) => `${left[i]!.padEnd(width)}${s.help}`);
  return `${usage}\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n${details ? `\n${details}\n` : ''}`;
}
