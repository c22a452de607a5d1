// Fuzzing the readers of outside bytes: seeded mutations of real inputs
// (tools/fuzz-readers.ts lists the readers and their inputs), each mutant read
// in a child process (tools/fuzz-child.ts) under a time limit.
//
//   npm run fuzz -- [--seed S] [--count N] [--reader NAME[,NAME...]] [--mutant I] [--verbose]
//
// Mutations (1 to 3 per mutant, chosen by a generator seeded from S, the
// reader and the mutant's index, so `--seed S --reader R --mutant I` replays
// one): bit flips and byte pokes (biased to the first 4 KiB, where headers
// are), truncations, deletions, insertions, duplicated ranges (duplicated keys
// and entries), edited integer fields (lengths, offsets, counts, sizes: the
// reader's own list of fields, else random positions) set to 0, 1, -1, 2^31,
// 2^32-1, 2^53 or the old value +-1, x2, x1000; and edited ASCII numbers (the
// JSON and .npy headers' shapes, offsets and lengths) set to huge, negative or
// fractional values. Readers with checksums re-seal them on half the mutants
// so those reach the parser.
//
// Each mutant must either be accepted or refused with an Error naming the
// problem. Failures: a RangeError/TypeError/... (or a typed-array constructor's
// message) as the reason, a non-Error thrown, over FUZZ_TIME_LIMIT_MS, a hang
// (the child is killed at FUZZ_KILL_MS), a crash of the child, or peak memory
// over FUZZ_MEMORY_FACTOR x the input's size + FUZZ_MEMORY_SLACK.
// Prints per reader: mutants tried, accepted, refused, the slowest, failures
// with their seed and index. Exit status 1 on any failure.

import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { READERS, readerNamed, type Field, type FuzzReader } from './fuzz-readers.ts';

/** A mutant taking longer than this fails ("within a second"). */
export const FUZZ_TIME_LIMIT_MS = 1000;
/** The child is killed (a hang) when a mutant runs this long. */
export const FUZZ_KILL_MS = 10_000;
/** Peak memory allowed per mutant, over the child's peak before it: this many times the input's size ... */
export const FUZZ_MEMORY_FACTOR = 16;
/** ... plus this much (the runtime's own working set). */
export const FUZZ_MEMORY_SLACK = 256 * 2 ** 20;
/** Where the header-biased mutations land. */
const HEAD_BYTES = 4096;

// ---------------------------------------------------------------- mutations

/** xorshift32 over a 32-bit state: deterministic across platforms. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** FNV-1a of a string, to mix the reader's name into the mutant's seed. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface Mutant {
  bytes: Uint8Array;
  /** what was done, for the report: e.g. ['flip@17', 'truncate@900'] */
  ops: string[];
}

const BIG_NUMBERS = ['0', '-1', '1', '2147483648', '4294967295', '4294967296', '9007199254740993', '99999999999999999999', '1e308', '-1e308', '3.5', 'NaN', '1e-7'];

/** Mutant `index` of one reader for seed `seed`: the same bytes every time. */
export function mutate(reader: Pick<FuzzReader, 'name' | 'fields' | 'fixup' | 'structural'>, seeds: readonly Uint8Array[], seed: number, index: number): Mutant {
  const r = rng((fnv(reader.name) ^ Math.imul(seed + 1, 0x27d4eb2d) ^ Math.imul(index + 1, 0x165667b1)) >>> 0);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const source = int(seeds.length);
  let b: Uint8Array = new Uint8Array(seeds[source]); // a copy (a Node Buffer's slice() would be a view)
  const ops: string[] = [`seed-input ${source}`];
  const pos = (len = b.length) => (len === 0 ? 0 : r() < 0.5 ? int(Math.min(len, HEAD_BYTES)) : int(len));
  const fields = reader.fields?.(seeds[source]) ?? [];
  const steps = 1 + int(3);
  for (let k = 0; k < steps; k++) {
    const op = pick(['flip', 'flip', 'byte', 'truncate', 'delete', 'insert', 'duplicate', 'field', 'field', 'field', 'number', 'number', 'structural', 'structural', 'structural']);
    if (b.length === 0 && op !== 'insert') continue;
    switch (op) {
      case 'flip': {
        const at = pos();
        const bits = 1 + int(8);
        for (let i = 0; i < bits; i++) b[Math.min(b.length - 1, at + int(4))] ^= 1 << int(8);
        ops.push(`flip@${at}`);
        break;
      }
      case 'byte': {
        const at = pos();
        b[at] = pick([0x00, 0xff, 0x7f, 0x80, 0x01, 0x2e]);
        ops.push(`byte@${at}=${b[at]}`);
        break;
      }
      case 'truncate': {
        const at = r() < 0.5 ? pos() : int(b.length);
        b = b.slice(0, at);
        ops.push(`truncate@${at}`);
        break;
      }
      case 'delete': {
        const at = pos();
        const n = 1 + int(64);
        b = concat(b.subarray(0, at), b.subarray(at + n));
        ops.push(`delete@${at}+${n}`);
        break;
      }
      case 'insert': {
        const at = pos();
        const n = 1 + int(16);
        const junk = Uint8Array.from({ length: n }, () => int(256));
        b = concat(b.subarray(0, at), junk, b.subarray(at));
        ops.push(`insert@${at}+${n}`);
        break;
      }
      case 'duplicate': {
        const at = pos();
        const n = 1 + int(r() < 0.5 ? 32 : 512);
        const piece = b.slice(at, at + n);
        b = concat(b.subarray(0, at + piece.length), piece, b.subarray(at + piece.length));
        ops.push(`duplicate@${at}+${piece.length}`);
        break;
      }
      case 'field': {
        const f: Field = fields.length && r() < 0.5 ? pick(fields) : { at: pos(), size: pick([2, 4, 4, 8] as const) };
        if (f.at + f.size > b.length) break;
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const le = !f.be;
        const old = f.size === 1 ? b[f.at] : f.size === 2 ? dv.getUint16(f.at, le) : f.size === 4 ? dv.getUint32(f.at, le) : Number(dv.getBigUint64(f.at, le));
        const max = f.size === 8 ? 2 ** 64 - 1 : 2 ** (8 * f.size) - 1;
        const v = pick([0, 1, max, max - 1, 2 ** (8 * f.size - 1), 2 ** (8 * f.size - 1) - 1, old + 1, old - 1, old * 2, old * 1000, 2 ** 53, 2 ** 32, 2 ** 31]);
        // -1 wraps to the all-ones value; the rest is clamped to 2^53 and wrapped to the field's width
        const w = BigInt.asUintN(8 * f.size, v === max ? -1n : BigInt(Math.trunc(Math.max(-(2 ** 53), Math.min(2 ** 53, v)))));
        if (f.size === 1) b[f.at] = Number(w);
        else if (f.size === 2) dv.setUint16(f.at, Number(w), le);
        else if (f.size === 4) dv.setUint32(f.at, Number(w), le);
        else dv.setBigUint64(f.at, w, le);
        ops.push(`field@${f.at}/${f.size}${f.be ? 'be' : ''}=${w}`);
        break;
      }
      case 'structural': {
        // on the unmutated input (a format-aware edit needs the format intact): the first step only
        if (!reader.structural || k > 0) break;
        const s = reader.structural(b, int);
        b = s.bytes;
        ops.push(`structural: ${s.op}`);
        break;
      }
      case 'number': {
        // the next run of ASCII digits from a random header position
        let at = pos();
        const limit = Math.min(b.length, at + 4096);
        while (at < limit && !(b[at] >= 0x30 && b[at] <= 0x39)) at++;
        if (at >= limit) break;
        let end = at;
        while (end < b.length && b[end] >= 0x30 && b[end] <= 0x39) end++;
        const text = pick(BIG_NUMBERS);
        b = concat(b.subarray(0, at), new TextEncoder().encode(text), b.subarray(end));
        ops.push(`number@${at}=${text}`);
        break;
      }
    }
  }
  if (reader.fixup && r() < 0.5) {
    b = reader.fixup(b);
    ops.push('fixup');
  }
  return { bytes: b, ops };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- verdicts

const RAW_ERRORS: readonly ErrorConstructor[] = [RangeError, TypeError, ReferenceError, SyntaxError, EvalError, URIError];
/** Messages of the runtime's own failures, which must never reach a user as the reason. */
const RAW_MESSAGES = /invalid typed array length|array buffer allocation failed|invalid array buffer length|offset is out of bounds|start offset of \w+array should be|byte length of \w+array should be|maximum call stack|cannot read propert|is not a function|is not iterable|invalid array length|out of memory/i;

/** null when a thrown value is a proper refusal; else what is wrong with it. */
export function badRefusal(e: unknown): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e).slice(0, 200)}`;
  if (RAW_ERRORS.some((C) => e.constructor === C)) return `a raw ${e.name} as the reason: ${e.message}`;
  if (!e.message.trim()) return `an ${e.name} without a message`;
  if (RAW_MESSAGES.test(e.message)) return `a runtime error as the reason: ${e.message}`;
  return null;
}

// ---------------------------------------------------------------- running

/** One mutant's outcome, as the child reports it. */
export interface Outcome {
  reader: string;
  index: number;
  kind: 'accepted' | 'refused' | 'failed';
  ms: number;
  /** the refusal's message, or what failed */
  message: string;
  ops: string[];
}

export interface ReaderReport {
  reader: string;
  tried: number;
  accepted: number;
  refused: number;
  slowest: { ms: number; index: number };
  failures: Outcome[];
  /** a few refusal messages, for the report */
  samples: string[];
}

export interface FuzzOptions {
  seed: number;
  count: number;
  readers: string[];
  /** only this mutant index (a replay) */
  mutant?: number;
  onProgress?(reader: string, done: number, count: number): void;
  /** FUZZ_TIME_LIMIT_MS unless set */
  timeLimitMs?: number;
  killMs?: number;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fuzz-child.ts');

type Reply = Outcome | { error: string; ms: number; ops: string[] };

/** A child process running mutants one at a time (restarted after a kill or a crash). */
class Runner {
  private child: ChildProcess | null = null;
  private pending: ((o: Reply) => void) | null = null;
  /** the running mutant's mutations, as the child announced them before reading (for a hang or a crash) */
  private ops: string[] = [];

  private start(): ChildProcess {
    const child = fork(CHILD, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // a killed child's late messages and exit are ignored (this.child is no longer it)
    child.on('message', (m: Outcome | { error: string } | { started: string[] }) => {
      if (this.child !== child) return;
      if ('started' in m) this.ops = m.started;
      else this.settle('error' in m ? { error: `the fuzzer itself failed: ${m.error}`, ms: 0, ops: [] } : m);
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = null;
      this.settle({ error: `crash: the child process died (${signal ?? `exit code ${code}`})`, ms: 0, ops: this.ops });
    });
    return child;
  }

  private settle(r: Reply): void {
    const p = this.pending;
    this.pending = null;
    p?.(r);
  }

  run(reader: string, seed: number, index: number, killMs: number): Promise<Reply> {
    this.child ??= this.start();
    const child = this.child;
    this.ops = [];
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.child = null;
        child.kill('SIGKILL');
        this.settle({ error: `hang: still running after ${killMs} ms (killed)`, ms: killMs, ops: this.ops });
      }, killMs);
      this.pending = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      child.send({ reader, seed, index });
    });
  }

  close(): void {
    const c = this.child;
    this.child = null;
    c?.kill();
  }
}

/** Runs the mutants; one report per reader. */
export async function runFuzz(opts: FuzzOptions): Promise<ReaderReport[]> {
  const limit = opts.timeLimitMs ?? FUZZ_TIME_LIMIT_MS;
  const killMs = opts.killMs ?? FUZZ_KILL_MS;
  const runner = new Runner();
  const reports: ReaderReport[] = [];
  try {
    for (const reader of opts.readers) {
      const rep: ReaderReport = { reader, tried: 0, accepted: 0, refused: 0, slowest: { ms: 0, index: -1 }, failures: [], samples: [] };
      const indices = opts.mutant !== undefined ? [opts.mutant] : Array.from({ length: opts.count }, (_, i) => i);
      // the first message loads the reader's seeds: a warm-up, not timed
      const warm = await runner.run(reader, opts.seed, -1, 120_000);
      if ('error' in warm) throw new Error(`fuzz: reader ${reader}: ${warm.error}`);
      for (const index of indices) {
        const o = await runner.run(reader, opts.seed, index, killMs);
        const out: Outcome = 'error' in o ? { reader, index, kind: 'failed', ms: o.ms, message: o.error, ops: o.ops } : o;
        if (out.kind !== 'failed' && out.ms > limit) {
          out.message = `took ${out.ms.toFixed(0)} ms (limit ${limit}); ${out.kind}: ${out.message}`;
          out.kind = 'failed';
        }
        rep.tried++;
        if (out.kind === 'accepted') rep.accepted++;
        else if (out.kind === 'refused') {
          rep.refused++;
          if (rep.samples.length < 200 && !rep.samples.includes(out.message)) rep.samples.push(out.message);
        } else rep.failures.push(out);
        if (out.ms > rep.slowest.ms) rep.slowest = { ms: out.ms, index };
        opts.onProgress?.(reader, rep.tried, indices.length);
      }
      reports.push(rep);
    }
  } finally {
    runner.close();
  }
  return reports;
}

/** The report table and the failures, as printed. */
export function formatReports(reports: readonly ReaderReport[], seed: number): string {
  const lines = [
    `seed ${seed}`,
    `${'reader'.padEnd(16)}${'tried'.padStart(7)}${'accepted'.padStart(10)}${'refused'.padStart(9)}${'failed'.padStart(8)}  slowest`,
  ];
  for (const r of reports) {
    const slow = r.slowest.index >= 0 ? `${r.slowest.ms.toFixed(1)} ms (mutant ${r.slowest.index})` : '-';
    lines.push(`${r.reader.padEnd(16)}${String(r.tried).padStart(7)}${String(r.accepted).padStart(10)}${String(r.refused).padStart(9)}${String(r.failures.length).padStart(8)}  ${slow}`);
  }
  for (const r of reports) {
    for (const f of r.failures.slice(0, 20)) {
      lines.push(`FAIL ${r.reader} mutant ${f.index} [${f.ops.join(', ')}]: ${f.message}`);
      lines.push(`     replay: npm run fuzz -- --seed ${seed} --reader ${r.reader} --mutant ${f.index}`);
    }
    if (r.failures.length > 20) lines.push(`... and ${r.failures.length - 20} more failures of ${r.reader}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- CLI

const USAGE = `npm run fuzz -- [--seed S] [--count N] [--reader NAME[,NAME...]] [--mutant I] [--verbose]
  --seed S      the generator's seed (default 1)
  --count N     mutants per reader (default 1000)
  --reader      readers to fuzz (default all: ${READERS.map((r) => r.name).join(', ')})
  --mutant I    run only mutant I (replay a failure)
  --verbose     print distinct refusal messages too`;

export async function main(argv: string[]): Promise<number> {
  let seed = 1, count = 1000, mutant: number | undefined, verbose = false;
  let readers = READERS.map((r) => r.name);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const integer = (v: string) => {
      if (!/^\d+$/.test(v)) throw new Error(`${a}: '${v}' is not a non-negative integer`);
      return Number(v);
    };
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return 0;
    } else if (a === '--seed') seed = integer(value());
    else if (a === '--count') count = integer(value());
    else if (a === '--mutant') mutant = integer(value());
    else if (a === '--reader') readers = value().split(',');
    else if (a === '--verbose') verbose = true;
    else throw new Error(`unknown argument '${a}'\n${USAGE}`);
  }
  for (const r of readers) readerNamed(r); // an unknown name is refused here, with the list
  const t0 = performance.now();
  const reports = await runFuzz({
    seed,
    count,
    readers,
    ...(mutant !== undefined ? { mutant } : {}),
    onProgress: (reader, done, n) => {
      if (done % 250 === 0 || done === n) process.stderr.write(`  ${reader}: ${done}/${n}\r${done === n ? '\n' : ''}`);
    },
  });
  console.log(formatReports(reports, seed));
  if (verbose) for (const r of reports) console.log(`\n${r.reader}: distinct refusals (${r.samples.length} shown)\n  ${r.samples.join('\n  ')}`);
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return reports.some((r) => r.failures.length) ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(e.message);
      process.exit(2);
    },
  );
}
