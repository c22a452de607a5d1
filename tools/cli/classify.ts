// perceiver-io classify IMAGE ... --weights W [--top K] [--json]
//                                  [--attention-maps DIR [--latents LIST] [--force]]
// ImageNet top-k with the colab's preprocessing (perceiver/imagenet); with
// --attention-maps, PNG heat maps of the encoder's cross-attention
// (docs/attention-maps.md).

import { basename, extname } from 'node:path';
import { loadImageClassifier, type ClassifyResult } from '../../perceiver/imagenet/index.ts';
import { attentionMaps } from '../../perceiver/attention_maps.ts';
import { spreadLatents, DEFAULT_MAP_COUNT } from '../../perceiver/heatmap.ts';
import { attentionMapPaths, refuseExisting, writeAttentionMaps } from '../attention-maps.ts';
import { optionString, UsageError, type Command } from './args.ts';
import { readImage, readWeightFile, withGpu } from './common.ts';


/** --latents '0,5,17' -> [0, 5, 17] (range checks happen in the model, which knows its latent count). */
function parseLatents(text: string): number[] {
  const list = text.split(',').map((s) => s.trim());
  if (list.some((s) => !/^\d+$/.test(s))) throw new UsageError(`classify: --latents must be comma-separated latent indices (e.g. 0,5,17), not '${text}'`);
  return list.map(Number);
}

/** File name prefixes per image: its stem, with its position when two images share one. */
function prefixes(files: readonly string[]): string[] {
  const stems = files.map((f) => basename(f, extname(f)));
  return stems.map((s, i) => (stems.indexOf(s) !== stems.lastIndexOf(s) ? `${i}-${s}.` : `${s}.`));
}

export const classify: Command = {
  name: 'classify',
  summary: 'Classifies PNG images with an ImageNet model: the top-k labels and probabilities.',
  positionals: [{ name: 'IMAGE', help: 'PNG images (centre-cropped and resized as in the colab)', variadic: true }],
  options: [
    { name: 'weights', short: 'w', value: 'FILE', help: 'a converted imagenet-* weight file', required: true },
    { name: 'top', value: 'K', help: 'labels per image (default 5)' },
    { name: 'json', help: 'print JSON instead of a table' },
    { name: 'attention-maps', value: 'DIR', help: 'also write the encoder cross-attention of some latents as PNG heat maps over each image: DIR/IMAGE.latent-N.png' },
    { name: 'latents', value: 'LIST', help: `the latents drawn with --attention-maps, e.g. 0,5,17 (default ${DEFAULT_MAP_COUNT} spread over all)` },
    { name: 'force', help: 'overwrite existing heat map files' },
  ],
  async run(args, io) {
    const top = Number(optionString(args, 'top') ?? 5);
    if (!Number.isInteger(top) || top < 1 || top > 1000) throw new UsageError(`classify: --top must be an integer from 1 to 1000, not '${optionString(args, 'top')}'`);
    const mapsDir = optionString(args, 'attention-maps');
    const latentsText = optionString(args, 'latents');
    if (latentsText !== undefined && mapsDir === undefined) throw new UsageError('classify: --latents goes with --attention-maps DIR');
    const latents = latentsText === undefined ? undefined : parseLatents(latentsText);
    const images = args.positionals.map(readImage);
    const { bytes, opts } = readWeightFile(optionString(args, 'weights')!, io);
    return withGpu(io, async (gpu) => {
      const model = await loadImageClassifier(gpu, bytes, opts);
      const attention = attentionMaps({ latents: latents ?? spreadLatents(model.config.encoder.numLatents) });
      const names = prefixes(args.positionals);
      const force = args.options.force === true;
      if (mapsDir !== undefined && !force) refuseExisting(names.flatMap((n) => attentionMapPaths(mapsDir, attention.latents, n))); // before the work
      io.err(`classifying ${images.length} image${images.length > 1 ? 's' : ''} with ${model.config.preset}`);
      let results: ClassifyResult['predictions'];
      if (mapsDir === undefined) results = await model.classify(images, top);
      else {
        const r = await model.classify(images, { k: top, attention });
        results = r.predictions;
        let count = 0;
        images.forEach((img, i) => {
          const c = r.crops[i];
          count += writeAttentionMaps(mapsDir, r.attention![i], img, { prefix: names[i], region: { x: c.x, y: c.y, width: c.size, height: c.size }, force }).length;
        });
        io.err(`wrote ${count} attention map${count > 1 ? 's' : ''} to ${mapsDir} (latents ${attention.latents.join(', ')})`);
      }
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
