// Attention maps as PNG files (Node): each map drawn as a heat map over the
// picture it belongs to (perceiver/heatmap.ts), one file per latent. Used by
// `perceiver-io classify IMAGE --attention-maps DIR`.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { attentionHeatmap, type Grid, type HeatmapOptions } from '../perceiver/heatmap.ts';
import type { RgbaImage } from '../perceiver/image.ts';
import { writePng } from './png.ts';

export interface WriteMapsOptions {
  /** file names are `${prefix}latent-${latent}.png` (default '') */
  prefix?: string;
  /** the part of `image` the maps cover (e.g. the classifier's centre crop: ClassifyResult.crops) */
  region?: HeatmapOptions['region'];
  /** overwrite existing files (default: refuse, naming the first) */
  force?: boolean;
}

/** The files writeAttentionMaps writes for these latents (to check before any work is done). */
export function attentionMapPaths(dir: string, latents: readonly number[], prefix = ''): string[] {
  return latents.map((l) => join(dir, `${prefix}latent-${l}.png`));
}

/** Throws, naming the first, when any of `paths` exists. */
export function refuseExisting(paths: readonly string[]): void {
  const taken = paths.find((p) => existsSync(p));
  if (taken) throw new Error(`${taken} exists; pass --force to overwrite it`);
}

/**
 * Writes one PNG per map into `dir` (created if missing): the map as a heat
 * map over `image`. Returns the paths written. Existing files are refused
 * before anything is written unless `force`.
 */
export function writeAttentionMaps(dir: string, maps: readonly (Grid & { latent: number })[], image: RgbaImage, opts: WriteMapsOptions = {}): string[] {
  const paths = attentionMapPaths(dir, maps.map((m) => m.latent), opts.prefix);
  if (!opts.force) refuseExisting(paths);
  mkdirSync(dir, { recursive: true });
  const written = new Set<string>();
  maps.forEach((m, i) => {
    if (written.has(paths[i])) return; // a latent asked for twice: one file
    writePng(paths[i], attentionHeatmap(m, { image, region: opts.region }));
    written.add(paths[i]);
  });
  return [...written];
}
