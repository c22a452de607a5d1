// perceiver/imagenet/labels.ts: 1000 class names in the standard ILSVRC-2012 order.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IMAGENET_CLASSES } from '../../../perceiver/imagenet/labels.ts';

test('1000 non-empty names', () => {
  assert.is(IMAGENET_CLASSES.length, 1000);
  assert.ok(IMAGENET_CLASSES.every((s) => typeof s === 'string' && s.length > 0 && s === s.trim()));
});

test('known indices', () => {
  const known: [number, string][] = [
    [0, 'tench, Tinca tinca'],
    [1, 'goldfish, Carassius auratus'],
    [281, 'tabby, tabby cat'],
    [282, 'tiger cat'],
    [285, 'Egyptian cat'],
    [319, "dragonfly, darning needle, devil's darning needle, sewing needle, snake feeder, snake doctor, mosquito hawk, skeeter hawk"],
    [504, 'coffee mug'],
    [967, 'espresso'],
    [968, 'cup'],
    [999, 'toilet tissue, toilet paper, bathroom tissue'],
  ];
  for (const [i, name] of known) assert.is(IMAGENET_CLASSES[i], name, `index ${i}`);
});

test('the one name the ILSVRC list repeats, and no others', () => {
  const seen = new Map<string, number[]>();
  IMAGENET_CLASSES.forEach((s, i) => seen.set(s, [...(seen.get(s) ?? []), i]));
  const dups = [...seen].filter(([, v]) => v.length > 1).map(([k, v]) => [k, v]);
  // 'crane' the bird (134) and the machine (517).
  assert.equal(dups, [['crane', [134, 517]]]);
  assert.is(IMAGENET_CLASSES[638], 'maillot');
  assert.is(IMAGENET_CLASSES[639], 'maillot, tank suit');
});

test.run();
