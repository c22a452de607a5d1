// The ImageNet classifiers' checkpoint leaves (perceiver/params.ts).

import type { ImageNetConfig } from '../config.ts';
import { fourierChannels, type CheckpointBuilder } from '../checkpoint.ts';

// The stored names of the conv stem's batch-norm moving averages (the layout rules' own, perceiver/stored.ts).
export { BATCHNORM_MEAN, BATCHNORM_VARIANCE } from '../stored.ts';

/** The conv stem's module path (imagenet-conv). */
export const CONV_STEM = 'image_preprocessor/~/conv2_d_downsample/~';

/** Input width of the ImageNet encoder for a config. */
export function imagenetInputChannels(c: ImageNetConfig): number {
  switch (c.preset) {
    case 'imagenet-conv':
      return c.prepChannels + fourierChannels(2, c.fourierBands);
    case 'imagenet-fourier':
      return 3 + fourierChannels(2, c.fourierBands);
    case 'imagenet-learned':
      return c.prepChannels + c.projectPosDim;
  }
}

export function imagenetCheckpoint(b: CheckpointBuilder, c: ImageNetConfig): void {
  if (c.preset === 'imagenet-conv') {
    const stem = CONV_STEM;
    b.add(`${stem}/batchnorm/offset`, [1, 1, 1, c.prepChannels]);
    b.add(`${stem}/batchnorm/scale`, [1, 1, 1, c.prepChannels]);
    b.add(`${stem}/conv/w`, [7, 7, 3, c.prepChannels]);
    for (const ema of ['mean_ema', 'var_ema']) {
      b.add(`${stem}/batchnorm/~/${ema}/average`, [1, 1, 1, c.prepChannels], 'state');
      b.add(`${stem}/batchnorm/~/${ema}/counter`, [], 'state');
      b.add(`${stem}/batchnorm/~/${ema}/hidden`, [1, 1, 1, c.prepChannels], 'state');
    }
  } else if (c.preset === 'imagenet-learned') {
    // hk.Conv2D(prepChannels, [1, 1]) on RGB, HWIO
    b.add('image_preprocessor/~/conv2_d/b', [c.prepChannels]);
    b.add('image_preprocessor/~/conv2_d/w', [1, 1, 3, c.prepChannels]);
    const net = 'image_preprocessor/~_build_network_inputs';
    b.linear(`${net}/position_encoding_projector/linear`, c.posChannels, c.projectPosDim);
    b.posEmbs(`${net}/trainable_position_encoding`, c.imageSize * c.imageSize, c.posChannels);
  }
  b.encoder(c.encoder, imagenetInputChannels(c));
  const dec = 'classification_decoder/~/basic_decoder';
  b.posEmbs(`${dec}/~/trainable_position_encoding`, 1, c.decoderQueryChannels);
  b.cross(`${dec}/cross_attention`, c.decoderQueryChannels, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, c.decoderQueryChannels, c.numClasses);
}
