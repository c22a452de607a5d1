// perceiver-io classify IMAGE ... --weights W [--top K] [--json]
// ImageNet top-k with the colab's preprocessing (perceiver/imagenet).

import { loadImageClassifier } from '../../perceiver/imagenet/index.ts';
import { optionString, UsageError, type Command } from './args.ts';
import { readImage, readWeightFile, withGpu } from './common.ts';

export const classify: Command = {
  name: 'classify',
  summary: 'Classifies PNG images with an ImageNet model: the top-k labels and probabilities.',
  positionals: [{ name: 'IMAGE', help: 'PNG images (centre-cropped and resized as in the colab)', variadic: true }],
  options: [
    { name: 'weights', short: 'w', value: 'FILE', help: 'a converted imagenet-* weight file', required: true },
    { name: 'top', value: 'K', help: 'labels per image (default 5)' },
    { name: 'json', help: 'print JSON instead of a table' },
  ],
  async run(args, io) {
    const top = Number(optionString(args, 'top') ?? 5);
    if (!Number.isInteger(top) || top < 1 || top > 1000) throw new UsageError(`classify: --top must be an integer from 1 to 1000, not '${optionString(args, 'top')}'`);
    const images = args.positionals.map(readImage);
    const { bytes, opts } = readWeightFile(optionString(args, 'weights')!, io);
    return withGpu(io, async (gpu) => {
      const model = await loadImageClassifier(gpu, bytes, opts);
      io.err(`classifying ${images.length} image${images.length > 1 ? 's' : ''} with ${model.config.preset}`);
      const results = await model.classify(images, top);
      if (args.options.json === true) io.out(JSON.stringify(args.positionals.map((file, i) => ({ file, predictions: results[i] })), null, 2));
      else
        results.forEach((preds, i) => {
          io.out(args.positionals[i]);
          for (const p of preds) io.out(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${String(p.index).padStart(3)}  ${p.label}`);
        });
      return 0;
    });
  },
};
