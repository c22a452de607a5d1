// perceiver-io flow A.png B.png --weights W -o flow.png [--flo FILE] [--legend] [--force]
// Optical flow between two frames (perceiver/flow): the colour-wheel picture
// as a PNG and optionally the flow field as a Middlebury .flo file.

import { loadOpticalFlow } from '../../perceiver/flow/index.ts';
import { writeFloFile, writeFlowPng } from '../../perceiver/flow/node.ts';
import { optionString, type Command } from './args.ts';
import { checkWritable, readImage, readWeightFile, withGpu } from './common.ts';

export const flow: Command = {
  name: 'flow',
  summary: 'Estimates the optical flow from frame A to frame B and draws it on the Middlebury colour wheel.',
  positionals: [
    { name: 'A', help: 'the first frame (PNG)' },
    { name: 'B', help: 'the second frame (PNG, the same size)' },
  ],
  options: [
    { name: 'weights', short: 'w', value: 'FILE', help: 'a converted optical-flow weight file', required: true },
    { name: 'output', short: 'o', value: 'PNG', help: 'the colour-wheel picture to write', required: true },
    { name: 'flo', value: 'FILE', help: 'also write the flow field as a Middlebury .flo file' },
    { name: 'legend', help: 'draw the colour-wheel legend in a corner' },
    { name: 'force', help: 'overwrite existing output files' },
  ],
  notes: 'Frames of any size run as 368x496 tiles as in the colab; on a software adapter a tile takes minutes (progress is reported per tile).',
  async run(args, io) {
    const [fileA, fileB] = args.positionals;
    const output = optionString(args, 'output')!;
    const flo = optionString(args, 'flo');
    const force = args.options.force === true;
    checkWritable(output, force);
    if (flo !== undefined) checkWritable(flo, force);
    const a = readImage(fileA);
    const b = readImage(fileB);
    if (a.width !== b.width || a.height !== b.height) throw new Error(`${fileA} is ${a.width}x${a.height} but ${fileB} is ${b.width}x${b.height}: the frames must be the same size`);
    const { bytes, opts } = readWeightFile(optionString(args, 'weights')!, io);
    return withGpu(io, async (gpu) => {
      const model = await loadOpticalFlow(gpu, bytes, opts);
      io.err(`estimating flow for ${a.width}x${a.height}`);
      const t0 = performance.now();
      const r = await model.flow(a, b, {
        picture: { legend: args.options.legend === true },
        onTile: (index, count) => io.err(`  tile ${index + 1} of ${count} (${((performance.now() - t0) / 1000).toFixed(1)} s so far)`),
      });
      writeFlowPng(output, r.picture!);
      io.out(`wrote ${output} (${r.width}x${r.height}, |flow| scale ${r.scale?.toFixed(2)} px)`);
      if (flo !== undefined) {
        writeFloFile(flo, { width: r.width, height: r.height, data: r.flow });
        io.out(`wrote ${flo}`);
      }
      return 0;
    });
  },
};
