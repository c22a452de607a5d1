// Video + audio + label autoencoding: the browser/Node entry point for the
// multimodal-autoencoder preset (DeepMind's Kinetics-700 model).
//
//   const ae = await loadVideoAutoencoder(gpu, await fetch('video.weights'));
//   // frames: VideoFrame / ImageBitmap / canvas / { width, height, data: RGBA }
//   // audio: mono Float32Array at 48 kHz in [-1, 1] (or null: silence)
//   const r = await ae.autoencode({ frames, audio, sampleRate: 48000 }, {
//     video: 'all',                         // or 'none', { frames: [0, 7] },
//                                           // { rect: { frameStart, frameEnd, x, y, width, height } }
//     audio: true,
//     onProgress: ({ window, windows, done, total }) => {},
//   });
//   r.labels;            // top-5 Kinetics-700 labels for the clip
//   r.windows[i].labels; // ... per 16-frame window, with .psnr.video / .psnr.audio
//   r.frames;            // [frameCount, 224, 224, 3] reconstruction (NaN where not decoded)
//   r.audio;             // reconstructed samples; r.audioSource: 'input' | 'silence'
//
// Lower level (encode once, decode any subset):
//   const w = ae.encode(frames16, audio30720);            // float32, [0, 1] / [-1, 1]
//   const { label } = await ae.decode(w, {});              // the label alone: one query
//   const f = await ae.decode(w, { label: false, image: { frames: [3] } });
//   const r = await ae.decode(w, { image: { rect: { x: 50, y: 60, width: 32, height: 32 } }, audio: 'all' });
//   w.dispose();
export {
  VideoAutoencoder,
  loadVideoAutoencoder,
  SAMPLE_RATE,
  kineticsClasses,
  type VideoClip,
  type FrameSelection,
  type AutoencodeOptions,
  type WindowResult,
  type ClipResult,
  type EncodedWindow,
  type WindowRequest,
  type WindowOutputs,
} from './api.ts';
export type { AttentionMaps, AttentionRequest, VideoAttentionMap } from '../attention_grid.ts';
// Lower level (the model, query selections, windows, preprocessing, PSNR)
// stays importable from its own module: ./model.ts, ./windows.ts,
// ./preprocess.ts, ./psnr.ts.
// The class names: `await kineticsClasses()` (a lazily loaded chunk), or
// import { KINETICS700_CLASSES } from './labels.ts' to bundle them eagerly.
export type { ModelLoadOptions, ModelSource } from '../load.ts';
