// The child process of tools/fuzz.ts: receives { reader, seed, index }, builds
// that mutant, reads it, and answers with its Outcome. Index -1 only loads the
// reader's seeds (a warm-up). Peak memory is the process's high-water mark
// (resourceUsage().maxRSS): a mutant that raises it by more than
// FUZZ_MEMORY_FACTOR x its size + FUZZ_MEMORY_SLACK over the peak before it fails.

import { readerNamed } from './fuzz-readers.ts';
import { mutate, badRefusal, FUZZ_MEMORY_FACTOR, FUZZ_MEMORY_SLACK, type Outcome } from './fuzz.ts';

const seedsOf = new Map<string, Uint8Array[]>();
const peakBytes = () => process.resourceUsage().maxRSS * 1024;

process.on('message', async (m: { reader: string; seed: number; index: number }) => {
  try {
    const reader = readerNamed(m.reader);
    let seeds = seedsOf.get(m.reader);
    // plain Uint8Arrays (a Buffer's slice() is a view: a mutation would reach the seed)
    if (!seeds) seedsOf.set(m.reader, (seeds = reader.seeds().map((s) => new Uint8Array(s))));
    if (m.index < 0) {
      // every seed must be accepted, or the fuzzer is measuring nothing
      for (const [i, s] of seeds.entries()) {
        try {
          await reader.read(s);
        } catch (e) {
          throw new Error(`seed input ${i} is refused: ${(e as Error).message}`);
        }
      }
      process.send!({ reader: m.reader, index: -1, kind: 'accepted', ms: 0, message: '', ops: [] } satisfies Outcome);
      return;
    }
    const { bytes, ops } = mutate(reader, seeds, m.seed, m.index);
    process.send!({ started: ops }); // so that a hang or a crash is reported with its mutations
    const before = peakBytes();
    const t0 = performance.now();
    let kind: Outcome['kind'] = 'accepted';
    let message = '';
    try {
      await reader.read(bytes);
    } catch (e) {
      const bad = badRefusal(e);
      kind = bad ? 'failed' : 'refused';
      message = bad ?? (e as Error).message;
      if (bad && e instanceof Error && e.stack) message += `\n     ${e.stack.split('\n').slice(1, 4).join('\n     ')}`;
    }
    const ms = performance.now() - t0;
    const grew = peakBytes() - before;
    if (grew > FUZZ_MEMORY_FACTOR * bytes.length + FUZZ_MEMORY_SLACK) {
      message = `peak memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB for a ${bytes.length}-byte input; ${kind}: ${message}`;
      kind = 'failed';
    }
    process.send!({ reader: m.reader, index: m.index, kind, ms, message: message.slice(0, 2000), ops } satisfies Outcome);
  } catch (e) {
    process.send!({ error: (e as Error).message });
  }
});
