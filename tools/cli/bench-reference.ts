// perceiver-io bench-reference [--fixtures DIR] [STEM ...] [--f16] [--full] [--json]
// DeepMind's reference fixtures through the converter, the weight format and
// the kernels (bench/reference.ts, `npm run bench:reference` in a clone).

import { resolve } from 'node:path';
import { runReference } from '../../bench/reference.ts';
import { builtinFixtures, BUILTIN_FIXTURES_ABSENT } from '../../bench/fixture.ts';
import { optionString, UsageError, type Command } from './args.ts';

export const benchReference: Command = {
  name: 'bench-reference',
  summary: "Runs DeepMind's reference fixtures and prints each output's largest relative error; fails above 5e-4.",
  // the fixtures: weights pickled like the released checkpoints, inputs, and the outputs they must give
  positionals: [{ name: 'STEM', help: 'fixtures to run (default: every STEM.pystate / .pickle in the folder)', variadic: true, optional: true }],
  options: [
    { name: 'fixtures', value: 'DIR', help: 'the fixtures folder (default: the built-in set, in a clone only)' },
    { name: 'f16', help: 'weights converted to f16 (kept f16 on the GPU where the adapter has shader-f16)' },
    { name: 'full', help: 'decode every output position even on a software adapter' },
    { name: 'json', help: 'print JSON' },
  ],
  notes: `The tolerance is 5e-4 (5e-3 with --f16). Without --fixtures: ${BUILTIN_FIXTURES_ABSENT}.`,
  async run(args, io) {
    const given = optionString(args, 'fixtures');
    const fixtures = given !== undefined ? resolve(given) : builtinFixtures();
    if (fixtures === null) throw new UsageError(`bench-reference: --fixtures DIR is required here (${BUILTIN_FIXTURES_ABSENT})`);
    return runReference(
      { fixtures, stems: args.positionals, json: args.options.json === true, save: null, full: args.options.full === true, warm: false, f16: args.options.f16 === true },
      io,
    );
  },
};
