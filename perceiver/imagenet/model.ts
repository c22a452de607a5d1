// The three released ImageNet classifiers (PERCEIVER_IO.md §8.3):
//   imagenet-conv     conv 7x7/2 + batch norm + ReLU + max-pool 3x3/2, then
//                     2-D Fourier features (64 bands, max_resolution 56x56)
//   imagenet-fourier  raw pixels + 2-D Fourier features (max_resolution 224x224)
//   imagenet-learned  1x1 conv to 256 channels + a trainable 256-d position
//                     table projected by a linear layer
// then the shared encoder (512 x 1024 latents, 6 self-attends applied 8 times)
// and a classification decoder (one trainable query, 1000 logits).

import type { Gpu, Tensor } from '../../engine/index.ts';
import { conv2dSame } from '../../kernels/conv.ts';
import { maxPoolSame } from '../../kernels/maxpool.ts';
import { fourierFeatures } from '../../kernels/fourier.ts';
import { concat } from '../../kernels/concat.ts';
import { matmul } from '../../kernels/matmul.ts';
import type { ImageNetConfig } from '../config.ts';
import { encode, type EncodeOptions } from '../encoder.ts';
import { decodeQueries, type DecoderSpec } from '../decoder.ts';
import { linear, type Params } from '../layers.ts';
import { BATCHNORM_MEAN, BATCHNORM_VARIANCE } from './params.ts';

const PREP = 'image_preprocessor';

/** Image adapter: images [B, H, W, 3] (NHWC, normalised) -> encoder inputs [B, N, C]. */
export function imagenetInputs(gpu: Gpu, images: Tensor, params: Params, cfg: ImageNetConfig): Tensor {
  const [batch, height, width, channels] = images.shape;
  if (images.shape.length !== 4 || channels !== 3) throw new Error(`${cfg.preset}: images must be [B, H, W, 3], got [${images.shape}]`);
  const p = params.scope(PREP);
  switch (cfg.preset) {
    case 'imagenet-conv': {
      const stem = p.scope('~/conv2_d_downsample/~');
      const bn = stem.scope('batchnorm');
      const conv = conv2dSame(gpu, images, stem.get('conv/w'), {
        stride: 2,
        batchNorm: { scale: bn.get('scale'), offset: bn.get('offset'), mean: bn.get(BATCHNORM_MEAN), variance: bn.get(BATCHNORM_VARIANCE), eps: 1e-5 },
        relu: true,
      });
      const pooled = maxPoolSame(gpu, conv, { size: 3, stride: 2 });
      conv.dispose();
      const [, h, w, c] = pooled.shape;
      const pos = fourierFeatures(gpu, { dims: [h, w], bands: cfg.fourierBands, maxResolution: cfg.maxResolution });
      const out = concat(gpu, [pooled.reshape([batch, h * w, c]), pos]);
      pooled.dispose();
      pos.dispose();
      return out;
    }
    case 'imagenet-fourier': {
      const pos = fourierFeatures(gpu, { dims: [height, width], bands: cfg.fourierBands, maxResolution: cfg.maxResolution });
      const out = concat(gpu, [images.reshape([batch, height * width, channels]), pos]);
      pos.dispose();
      return out;
    }
    case 'imagenet-learned': {
      const n = cfg.imageSize * cfg.imageSize;
      if (height * width !== n) {
        throw new Error(`imagenet-learned: its position table has ${n} rows (image_size ${cfg.imageSize}), so images must be ${cfg.imageSize}x${cfg.imageSize}, got ${height}x${width}`);
      }
      // The 1x1 conv (stride 1) is a Linear over pixels: HWIO [1,1,3,C] seen as [3,C].
      const conv = p.scope('~/conv2_d');
      const w = conv.get('w');
      const features = matmul(gpu, images.reshape([batch, n, channels]), w.reshape([channels, w.shape[3]]), { bias: conv.get('b') });
      const net = p.scope('~_build_network_inputs');
      const pos = linear(gpu, net.get('trainable_position_encoding/pos_embs'), net.scope('position_encoding_projector/linear'));
      const out = concat(gpu, [features, pos]);
      features.dispose();
      pos.dispose();
      return out;
    }
  }
}

export function classificationDecoder(cfg: { decoderHeads: number; decoderQueryResidual: boolean }, scope = 'classification_decoder/~/basic_decoder'): DecoderSpec {
  return { scope, heads: cfg.decoderHeads, queryResidual: cfg.decoderQueryResidual, finalProject: true };
}

/**
 * The grid of the encoder's inputs for H x W images (row-major, as
 * imagenetInputs orders them): the pooled 1/4 grid of the conv stem
 * (stride-2 conv, stride-2 pool, SAME padding: 56x56 for 224), the pixels
 * otherwise.
 */
export function imagenetInputGrid(cfg: ImageNetConfig, height: number, width: number): [number, number] {
  if (cfg.preset !== 'imagenet-conv') return [height, width];
  const half = (n: number) => Math.ceil(n / 2);
  return [half(half(height)), half(half(width))];
}

/** images [B, H, W, 3] -> logits [B, numClasses]. `opts.attentionTap`: see perceiver/attention_maps.ts. */
export function imagenetLogits(gpu: Gpu, images: Tensor, params: Params, cfg: ImageNetConfig, opts: Pick<EncodeOptions, 'attentionTap'> = {}): Tensor {
  const inputs = imagenetInputs(gpu, images, params, cfg);
  const z = encode(gpu, inputs, params, cfg.encoder, opts);
  inputs.dispose();
  const spec = classificationDecoder(cfg);
  const batch = images.shape[0];
  const query = concat(gpu, [params.scope(spec.scope).get('~/trainable_position_encoding/pos_embs')], batch);
  const out = decodeQueries(gpu, z, query, params, spec);
  z.dispose();
  query.dispose();
  return out.transfer([batch, cfg.numClasses]);
}
