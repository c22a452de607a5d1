// perceiver-io fill-mask TEXT --weights W [--json]
// Masked-byte filling with the language-mlm model (perceiver/language).

import { loadMaskedLanguageModel } from '../../perceiver/language/index.ts';
import { optionString, type Command } from './args.ts';
import { readWeightFile, withGpu } from './common.ts';

export const fillMask: Command = {
  name: 'fill-mask',
  summary: 'Fills the [MASK:N] gaps (N UTF-8 bytes each) of a text with the language-mlm model.',
  positionals: [{ name: 'TEXT', help: "the text, e.g. 'This is an incomplete sentence where some words are[MASK:9]'" }],
  options: [
    { name: 'weights', short: 'w', value: 'FILE', help: 'a converted language-mlm weight file', required: true },
    { name: 'json', help: 'print each gap with its per-byte candidates as JSON' },
  ],
  notes: 'Texts longer than 2048 bytes run as overlapping windows (docs/language.md).',
  async run(args, io) {
    const text = args.positionals[0];
    const { bytes, opts } = readWeightFile(optionString(args, 'weights')!, io);
    return withGpu(io, async (gpu) => {
      const model = await loadMaskedLanguageModel(gpu, bytes, opts);
      const r = await model.fillMask(text, { onProgress: (done, total) => total > 1 && io.err(`  window ${done} of ${total}`) });
      if (args.options.json === true) {
        const gaps = r.gaps.map((g) => ({ start: g.start, end: g.end, text: g.text, perByte: g.perByte }));
        io.out(JSON.stringify({ text: r.text, gaps }, null, 2));
      } else io.out(r.text);
      return 0;
    });
  },
};
