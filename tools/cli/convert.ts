// perceiver-io convert IN OUT --preset P [--dtype f16] [--overrides JSON|FILE] [--force]
// perceiver-io convert model.safetensors|pytorch_model.bin|DIR OUT [--dtype f16] [--force]   (HuggingFace; preset from config.json)
// The strict converter (tools/convert.ts) on files (tools/convert-file.ts).

import { readFileSync } from 'node:fs';
import { PRESETS, type Overrides, type PresetName } from '../../perceiver/config.ts';
import { convertFile } from '../convert-file.ts';
import { optionString, progressReporter, UsageError, type Command } from './args.ts';

/** Outputs larger than this report their writing progress. */
const PROGRESS_FROM_BYTES = 64 * 2 ** 20;

/** --overrides: a JSON object, or a JSON file holding one (or a fixture's STEM.json with "overrides"). */
export function parseOverrides(arg: string): Overrides {
  const inline = arg.trim().startsWith('{');
  let text = arg;
  if (!inline) {
    try {
      text = readFileSync(arg, 'utf8');
    } catch (e) {
      throw new Error(`--overrides ${arg}: not a JSON object and no readable file (${(e as Error).message})`);
    }
  }
  const from = inline ? 'argument' : arg;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`convert: --overrides ${from}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`convert: --overrides ${from}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  return ('overrides' in o && typeof o.overrides === 'object' && o.overrides !== null ? o.overrides : o) as Overrides;
}

export const convert: Command = {
  name: 'convert',
  summary: "Converts a released checkpoint (.pystate / .pickle) or a HuggingFace one (safetensors, pytorch_model.bin, a folder) into a weight file, every tensor name and shape checked against the preset.",
  positionals: [
    { name: 'IN', help: 'the checkpoint: .pystate / .pickle, or HuggingFace model.safetensors, model.safetensors.index.json, pytorch_model.bin or their folder (config.json beside them)' },
    { name: 'OUT', help: 'the weight file to write (refused if it exists, unless --force)' },
  ],
  options: [
    { name: 'preset', value: 'P', help: 'the model the checkpoint is (needed for a pickle; HuggingFace checkpoints name it in config.json)', choices: PRESETS },
    { name: 'dtype', value: 'D', help: 'storage of float tensors (f16: half the file)', choices: ['f32', 'f16'] },
    { name: 'overrides', value: 'JSON|FILE', help: `size overrides, e.g. '{"num_latents":32}', or a JSON file` },
    { name: 'force', help: 'overwrite OUT' },
  ],
  notes: 'The pickle is read by the project\'s own reader: no code is executed, and anything but dicts, lists,\ntuples, strings, numbers, Haiku FlatMapping records and numpy arrays is refused (a pytorch_model.bin:\nonly what torch.save writes for a state dict). HuggingFace weights are mapped back to DeepMind\'s layout\n(perceiver/hf.ts), giving the same bits as converting DeepMind\'s own file.',
  async run(args, io) {
    const [input, output] = args.positionals;
    const overridesArg = optionString(args, 'overrides');
    const result = await convertFile(input, output, {
      preset: optionString(args, 'preset') as PresetName | undefined,
      overrides: overridesArg === undefined ? {} : parseOverrides(overridesArg),
      dtype: optionString(args, 'dtype') === 'f16' ? 'f16' : 'f32',
      force: args.options.force === true,
      onMessage: io.err,
      onProgress: progressReporter(io, `writing ${output}`, PROGRESS_FROM_BYTES),
    });
    for (const w of result.f16Overflow) io.err(`warning: ${w}`);
    return 0;
  },
};
