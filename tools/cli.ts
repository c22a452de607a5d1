#!/usr/bin/env node
// perceiver-io: the package's command line (the `bin` of package.json,
// compiled to dist/tools/cli.js; `npx tsx tools/cli.ts` in a clone).
//
//   perceiver-io convert IN OUT --preset P [--dtype f16] [--overrides JSON] [--force]
//   perceiver-io classify IMAGE --weights W
//   perceiver-io fill-mask TEXT --weights W
//   perceiver-io flow A.png B.png --weights W -o flow.png
//   perceiver-io bench-reference [--fixtures DIR]
//   perceiver-io COMMAND --help
//
// Results go to stdout, progress and messages to stderr. Exit codes: 0 done,
// 1 the work failed (the message names the file and the problem), 2 bad
// usage. Each command is one module in tools/cli/ declaring its arguments
// (tools/cli/args.ts); adding one is a module and a line in COMMANDS.

import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import { commandUsage, parseCommandArgs, PROGRAM, UsageError, type Command, type Io } from './cli/args.ts';
import { convert } from './cli/convert.ts';
import { classify } from './cli/classify.ts';
import { fillMask } from './cli/fill-mask.ts';
import { flow } from './cli/flow.ts';
import { benchReference } from './cli/bench-reference.ts';

export const COMMANDS: readonly Command[] = [convert, classify, fillMask, flow, benchReference];

export function programUsage(commands: readonly Command[] = COMMANDS): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    `usage: ${PROGRAM} COMMAND [ARGS]   (${PROGRAM} COMMAND --help for one command)`,
    '',
    "DeepMind's Perceiver IO on WebGPU (in Node: the `webgpu` package, `npm i webgpu`).",
    '',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary.split(/(?<=\.) /)[0]}`),
  ].join('\n');
}

const stdio: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** Runs one command line; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io = stdio, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(programUsage(commands));
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`${PROGRAM}: unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')}; ${PROGRAM} --help describes them)`);
    return 2;
  }
  try {
    const args = parseCommandArgs(command, rest);
    if (args === 'help') {
      io.out(commandUsage(command));
      return 0;
    }
    return await command.run(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${PROGRAM} ${e.message}\n(${PROGRAM} ${command.name} --help shows the usage)`);
      return 2;
    }
    io.err(`${PROGRAM} ${command.name}: ${(e as Error).message}`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    // npm's bin is a symlink to this file
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
