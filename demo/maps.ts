// Attention maps in the demo: the latents field and a picker (one thumbnail
// per latent, the chosen one large), each map drawn as a heat map over the
// picture it belongs to (perceiver/heatmap.ts). Shared by the classify, flow
// and video panels.

import { attentionHeatmap, spreadLatents, DEFAULT_MAP_COUNT, type Grid } from '../perceiver/heatmap.ts';
import type { RgbaImage } from '../perceiver/image.ts';
import { h, clear, canvasOf, figure } from './ui.ts';

/** The checkbox and latents field of a panel: `ids` prefix; read() gives the latents asked for, or null when off. */
export function mapsControls(prefix: string): { el: HTMLElement; read(numLatents: number): number[] | null } {
  const on = h('input', { id: `${prefix}-attention`, type: 'checkbox' }) as HTMLInputElement;
  const field = h('input', { id: `${prefix}-latents`, type: 'text', size: 14, placeholder: `${DEFAULT_MAP_COUNT} spread over all`, title: 'comma-separated latent indices' }) as HTMLInputElement;
  const el = h('div.row.maps-controls', {}, h('label', {}, on, ' attention maps of latents '), field);
  return {
    el,
    read(n) {
      if (!on.checked) return null;
      const text = field.value.trim();
      if (!text) return spreadLatents(n);
      const list = text.split(',').map((s) => s.trim());
      if (list.some((s) => !/^\d+$/.test(s))) throw new Error(`latents: '${text}' is not a comma-separated list of latent indices`);
      return list.map(Number);
    },
  };
}

export interface MapItem {
  latent: number;
  /** what is drawn under the heat */
  picture: RgbaImage;
  grid: Grid;
  /** where the grid lies on the picture (default all of it) */
  region?: { x: number; y: number; width: number; height: number };
  caption: string;
  /** the thumbnail's label (default the latent) */
  label?: string;
}

/**
 * The picker: a large heat map of the chosen latent (`#PREFIX-map`, its
 * latent in data-latent) and a row of thumbnails (`.map-thumb`, one button
 * per latent) that choose it.
 */
export function mapsView(prefix: string, items: MapItem[], title: string): HTMLElement {
  const draw = (it: MapItem) => attentionHeatmap(it.grid, { image: it.picture, region: it.region });
  const big = h('div.map-large');
  const choose = (i: number) => {
    const it = items[i];
    const c = canvasOf(draw(it), undefined, undefined, 256);
    c.id = `${prefix}-map`;
    c.dataset.latent = String(it.latent);
    clear(big, figure(c, it.caption));
    thumbs.querySelectorAll('.map-thumb').forEach((b, j) => b.classList.toggle('chosen', j === i));
  };
  const thumbs = h(
    'div.map-thumbs',
    {},
    ...items.map((it, i) => h('button.map-thumb', { type: 'button', title: it.caption, 'data-latent': it.latent, onclick: () => choose(i) }, canvasOf(draw(it), undefined, undefined, 64), h('span', {}, it.label ?? String(it.latent)))),
  );
  const el = h('div.maps', {}, h('h4', {}, title), big, thumbs);
  if (items.length) choose(0);
  return el;
}

/** The part `region` of an image, redrawn at width x height (a browser canvas: the picture under a map). */
export function cropPicture(src: CanvasImageSource, region: { x: number; y: number; width: number; height: number }, width: number, height: number): RgbaImage {
  const c = new OffscreenCanvas(width, height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(src, region.x, region.y, region.width, region.height, 0, 0, width, height);
  return { width, height, data: ctx.getImageData(0, 0, width, height).data };
}
