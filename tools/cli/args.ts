// The command-line interface's table of subcommands and its one argument
// parser (Node-only code: tools/cli.ts and tools/cli/*.ts, the `perceiver-io`
// bin of the npm package). A subcommand is plain data plus a run function:
// its positionals and options are declared once, and the parser, the
// `--help` text and the error messages all come from that declaration. To add
// an option to a command, add a row to its `options`; to add a command, add a
// module exporting a Command and one line to COMMANDS in tools/cli.ts.
//
// Exit codes: 0 done, 1 the work failed (a bad file, a failed check), 2 bad
// usage (unknown option, missing argument): the message names the problem
// and points at `perceiver-io COMMAND --help`.

export interface OptionSpec {
  /** the long name without dashes: 'weights' for --weights */
  name: string;
  /** one-letter alias without the dash: 'o' for -o */
  short?: string;
  /** the value's placeholder ('FILE'); absent for a flag (true when given) */
  value?: string;
  help: string;
  required?: boolean;
  /** the allowed values, checked by the parser */
  choices?: readonly string[];
}

export interface PositionalSpec {
  name: string;
  help: string;
  /** the last positional may take any number of values (at least one unless optional) */
  variadic?: boolean;
  optional?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  /** by long name: the value for a valued option, true for a flag; absent when not given */
  options: Record<string, string | true | undefined>;
}

/** Where a command writes: results to `out` (stdout), progress and messages to `err` (stderr). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export interface Command {
  name: string;
  /** one line for the command list */
  summary: string;
  positionals: PositionalSpec[];
  options: OptionSpec[];
  /** paragraphs printed after the options in --help */
  notes?: string;
  run(args: ParsedArgs, io: Io): Promise<number>;
}

/** Bad usage: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const PROGRAM = 'perceiver-io';

export function commandUsage(c: Command): string {
  const pos = c.positionals.map((p) => (p.optional ? `[${p.name}${p.variadic ? ' ...' : ''}]` : `${p.name}${p.variadic ? ' ...' : ''}`));
  const opts = c.options.map((o) => {
    const s = `--${o.name}${o.value ? ` ${o.value}` : ''}`;
    return o.required ? s : `[${s}]`;
  });
  const lines = [`usage: ${PROGRAM} ${[c.name, ...pos, ...opts].join(' ')}`, '', c.summary, ''];
  const rows: [string, string][] = [
    ...c.positionals.map((p): [string, string] => [p.name, p.help]),
    ...c.options.map((o): [string, string] => [
      `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`,
      `${o.help}${o.choices ? ` (${o.choices.join(' | ')})` : ''}${o.required ? ' (required)' : ''}`,
    ]),
    ['-h, --help', 'this text'],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(w)}  ${v}`);
  if (c.notes) lines.push('', c.notes);
  return lines.join('\n');
}

/** Parses argv for one command; 'help' when -h/--help is given. Throws UsageError naming the problem. */
export function parseCommandArgs(c: Command, argv: readonly string[]): ParsedArgs | 'help' {
  const positionals: string[] = [];
  const options: Record<string, string | true | undefined> = {};
  const find = (a: string) => (a.startsWith('--') ? c.options.find((o) => o.name === a.slice(2)) : c.options.find((o) => o.short !== undefined && o.short === a.slice(1)));
  let dashdash = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (dashdash || !a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    if (a === '--') {
      dashdash = true;
      continue;
    }
    if (a === '-h' || a === '--help') return 'help';
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const key = eq > 0 ? a.slice(0, eq) : a;
    const o = find(key);
    if (!o) throw new UsageError(`${c.name}: unknown option ${key}`);
    if (!o.value) {
      if (eq > 0) throw new UsageError(`${c.name}: --${o.name} takes no value`);
      options[o.name] = true;
      continue;
    }
    let v: string | undefined;
    if (eq > 0) v = a.slice(eq + 1);
    else {
      v = argv[++i];
      if (v === undefined) throw new UsageError(`${c.name}: --${o.name} needs a value (${o.value})`);
    }
    if (o.choices && !o.choices.includes(v)) throw new UsageError(`${c.name}: --${o.name} must be one of ${o.choices.join(', ')}, not '${v}'`);
    if (options[o.name] !== undefined) throw new UsageError(`${c.name}: --${o.name} is given twice`);
    options[o.name] = v;
  }
  for (const o of c.options) if (o.required && options[o.name] === undefined) throw new UsageError(`${c.name}: --${o.name} ${o.value ?? ''} is required`.trimEnd());
  const fixed = c.positionals.filter((p) => !p.variadic);
  const variadic = c.positionals.find((p) => p.variadic);
  const min = fixed.filter((p) => !p.optional).length + (variadic && !variadic.optional ? 1 : 0);
  const max = variadic ? Infinity : fixed.length;
  if (positionals.length < min || positionals.length > max) {
    const names = c.positionals.map((p) => p.name).join(' ');
    throw new UsageError(`${c.name}: expected ${names || 'no arguments'}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}`);
  }
  return { positionals, options };
}

/** A valued option's value (the parser has checked required ones). */
export function optionString(args: ParsedArgs, name: string): string | undefined {
  const v = args.options[name];
  return typeof v === 'string' ? v : undefined;
}

/** Progress as a bar-less percentage line every 10% (stderr); quiet for small totals. */
export function progressReporter(io: Io, what: string, minTotal = 0): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    if (total < minTotal) return;
    const step = Math.floor((done / Math.max(total, 1)) * 10);
    if (step === last) return;
    last = step;
    io.err(`  ${what}: ${step * 10}% (${(done / 2 ** 20).toFixed(1)} of ${(total / 2 ** 20).toFixed(1)} MB)`);
  };
}
