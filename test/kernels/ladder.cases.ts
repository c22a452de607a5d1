// The attention shapes every rung of the ladder is checked on
// (test/kernels/ladder.test.ts and its child ladder.subgroups.ts): sizes that
// divide no tile, several batches and heads, Dqk != Dv, and masks (with
// B > 1 the last batch has every key masked: its output must be zeros).

import type { AttentionShape } from '../../kernels/ladder/rungs.ts';

export interface LadderCase { name: string; shape: AttentionShape; masks: boolean }

export const LADDER_TEST_CASES: LadderCase[] = [
  { name: 'odd sizes, 3 heads, Dqk != Dv, masks', shape: { B: 2, Tq: 37, Tk: 75, H: 3, Dqk: 5, Dv: 7 }, masks: true },
  { name: 'odd sizes, no masks', shape: { B: 1, Tq: 45, Tk: 33, H: 2, Dqk: 9, Dv: 3 }, masks: false },
  // few queries over many keys: the splits rung splits the keys (1,100 keys >= 2 x 512 per split)
  { name: 'few queries over many keys, masks', shape: { B: 2, Tq: 9, Tk: 1100, H: 1, Dqk: 6, Dv: 11 }, masks: true },
];
