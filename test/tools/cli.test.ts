// tools/cli.ts, the `perceiver-io` command: --help for the program and each
// command, bad input refused with a message naming the problem (exit 2 for
// usage, 1 for a bad file), and a real run: convert the built-in ImageNet
// fixture's checkpoint, then classify a photograph with it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { COMMANDS } from '../../tools/cli.ts';
import { parseWeightHeader } from '../../engine/weights.ts';
import { BUILTIN_FIXTURES } from '../../bench/fixture.ts';
import { testGpu } from '../gpu.ts';
import { GOLDEN_DIR, skipNote, runCli } from './helpers.ts';

const REPO = resolve(import.meta.dirname, '../..');
const PHOTO = join(REPO, 'test/media/chelsea-224.png');

const cli = runCli;

test('--help: the program lists every command; each command prints its usage and options, exit 0', async () => {
  const top = await cli('--help');
  assert.is(top.code, 0);
  for (const c of ['convert', 'classify', 'fill-mask', 'flow', 'bench-reference']) assert.match(top.out, new RegExp(`^  ${c} `, 'm'));
  for (const c of COMMANDS) {
    const r = await cli(c.name, '--help');
    assert.is(r.code, 0, c.name);
    assert.match(r.out, new RegExp(`^usage: perceiver-io ${c.name} `));
    for (const o of c.options) assert.ok(r.out.includes(`--${o.name}`), `${c.name} --help names --${o.name}`);
  }
  assert.match((await cli('convert', '--help')).out, /--preset P .*imagenet-conv \| /);
  assert.match((await cli('flow', '-h')).out, /-o, --output PNG/);
});

test('bad usage: exit 2 with the problem named and a pointer to --help', async () => {
  const cases: [string[], RegExp][] = [
    [[], /^usage: perceiver-io COMMAND/],
    [['frobnicate'], /unknown command 'frobnicate' \(commands: convert, classify, fill-mask, flow, bench-reference;/],
    [['classify', 'cat.png'], /classify: --weights FILE is required/],
    [['classify', '--weights', 'w'], /classify: expected IMAGE, got none/],
    [['classify', 'cat.png', '--weights', 'w', '--colour'], /classify: unknown option --colour/],
    [['classify', 'cat.png', '--weights'], /classify: --weights needs a value \(FILE\)/],
    [['classify', 'cat.png', '--weights', 'w', '--top', 'many'], /--top must be an integer from 1 to 1000, not 'many'/],
    [['convert', 'a.pystate', 'b.weights', '--preset', 'imagenet-huge'], /--preset must be one of imagenet-conv, .*, not 'imagenet-huge'/],
    [['convert', 'a.pystate', '--preset', 'imagenet-conv'], /convert: expected IN OUT, got 'a.pystate'/],
    [['convert', 'a', 'b', '--preset', 'imagenet-conv', '--dtype', 'f64'], /--dtype must be one of f32, f16, not 'f64'/],
    [['convert', 'a', 'b', '--preset', 'imagenet-conv', '--overrides', '{"num_latents":'], /--overrides argument: not valid JSON/],
    [['flow', 'a.png', 'b.png', '--weights', 'w'], /flow: --output PNG is required/],
    [['fill-mask', '--weights', 'w'], /fill-mask: expected TEXT, got none/],
    [['bench-reference', '--fixtures'], /--fixtures needs a value \(DIR\)/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, message, argv.join(' '));
    if (argv.length > 0) assert.match(r.err, /--help/);
  }
});

test('bad files: exit 1 naming the file and the problem, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  try {
    const notPng = join(dir, 'cat.jpg');
    writeFileSync(notPng, 'JFIF not a png');
    const existing = join(dir, 'flow.png');
    writeFileSync(existing, 'mine');
    const cases: [string[], RegExp][] = [
      [['classify', join(dir, 'missing.png'), '--weights', 'w'], /missing\.png: no such file/],
      [['classify', notPng, '--weights', 'w'], /cat\.jpg: PNG: .* \(images are read as PNG; convert others first\)/],
      [['classify', PHOTO, '--weights', join(dir, 'none.weights')], /none\.weights: no such weight file \(convert a checkpoint with `perceiver-io convert`\)/],
      [['fill-mask', 'abc[MASK:3]', '--weights', join(dir, 'none.weights')], /none\.weights: no such weight file/],
      [['flow', PHOTO, PHOTO, '--weights', 'w', '-o', existing], /flow\.png exists; pass --force to overwrite it/],
      [['convert', join(dir, 'missing.pystate'), join(dir, 'out.weights'), '--preset', 'imagenet-conv'], /missing\.pystate: no such file/],
      [['convert', notPng, join(dir, 'out.weights'), '--preset', 'imagenet-conv'], /perceiver-io convert: .*pickle/i],
      [['bench-reference', '--fixtures', join(dir, 'nowhere')], /fixtures folder .*nowhere does not exist/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      assert.is(r.code, 1, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message, argv.join(' '));
    }
    assert.is(readFileSync(existing, 'utf8'), 'mine');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert then classify: the built-in imagenet-conv fixture and a photograph', async () => {
  await testGpu(); // the shared test device first: the CLI's own device is made and destroyed per command
  const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  try {
    const weights = join(dir, 'conv.weights');
    const c = await cli('convert', join(BUILTIN_FIXTURES, 'imagenet_conv.pystate'), weights, '--preset', 'imagenet-conv', '--overrides', join(BUILTIN_FIXTURES, 'imagenet_conv.json'));
    assert.is(c.code, 0, c.err);
    assert.match(c.err, /reading .*imagenet_conv\.pystate/);
    assert.match(c.err, /wrote .*conv\.weights: \d+ tensors/);
    const meta = parseWeightHeader(readFileSync(weights)).meta;
    assert.is(meta.preset, 'imagenet-conv');
    assert.equal(meta.overrides, JSON.parse(readFileSync(join(BUILTIN_FIXTURES, 'imagenet_conv.json'), 'utf8')).overrides);

    const r = await cli('classify', PHOTO, '--weights', weights, '--top', '3', '--json');
    assert.is(r.code, 0, r.err);
    assert.match(r.err, /adapter: /);
    const [result] = JSON.parse(r.out) as { file: string; predictions: { index: number; label: string; probability: number }[] }[];
    assert.is(result.file, PHOTO);
    assert.is(result.predictions.length, 3);
    const p = result.predictions.map((x) => x.probability);
    assert.ok(p[0] >= p[1] && p[1] >= p[2] && p[0] <= 1 && p[2] > 0, `${p}`);
    assert.ok(result.predictions.every((x) => typeof x.label === 'string' && x.label.length > 0 && x.index >= 0 && x.index < 1000));
    const table = await cli('classify', PHOTO, '--weights', weights);
    assert.is(table.code, 0, table.err);
    assert.is(table.out.trim().split('\n').length, 1 + 5);
    assert.ok(table.out.includes(result.predictions[0].label), table.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("convert then fill-mask: the golden language-mlm fixture (DeepMind's code at reduced widths)", async () => {
  if (skipNote('fill-mask on the golden language-mlm fixture', GOLDEN_DIR, 'PERCEIVER_GOLDEN_DIR')) return;
  await testGpu();
  const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  try {
    const weights = join(dir, 'mlm.weights');
    const c = await cli('convert', join(GOLDEN_DIR!, 'language_mlm.pystate'), weights, '--preset', 'language-mlm', '--overrides', join(GOLDEN_DIR!, 'language_mlm.json'), '--dtype', 'f16');
    assert.is(c.code, 0, c.err);
    const text = 'This is an incomplete sentence where some words are[MASK:9]';
    const r = await cli('fill-mask', text, '--weights', weights, '--json');
    assert.is(r.code, 0, r.err);
    const out = JSON.parse(r.out) as { text: string; gaps: { start: number; end: number; text: string; perByte: { topK: unknown[] }[] }[] };
    assert.is(out.gaps.length, 1);
    assert.is(out.gaps[0].end - out.gaps[0].start, 9);
    assert.is(out.gaps[0].perByte.length, 9);
    assert.ok(out.text.startsWith('This is an incomplete sentence where some words are'), out.text);
    assert.not.ok(out.text.includes('[MASK'), out.text);
    const plain = await cli('fill-mask', text, '--weights', weights);
    assert.is(plain.out.trim(), out.text.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the command line runs as a process (the bin): exit codes pass through', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'tools/cli.ts'), ...a], { encoding: 'utf8', cwd: REPO });
  const help = run('classify', '--help');
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: perceiver-io classify IMAGE/);
  const bad = run('classify');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--weights FILE is required/);
});

test.run();
