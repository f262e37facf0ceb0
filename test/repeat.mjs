#!/usr/bin/env node
// Runs one suite again and again, with cores kept busy, until it fails or the count is reached:
// what a developer runs before stopping, since a race that shows 1 run in 6 passes most single runs.
//   npm run test:repeat -- browser 20          the browser suite 20 times, one core busy
//   npm run test:repeat -- unit 2 --busy 2     the unit tests twice, both cores busy
//   npm run test:repeat -- e2e 3 --busy 0      the integration suite three times, nothing else running
// Suites: browser (dist-test/browser), unit (dist-test/src and dist-test/test), e2e (the code-server
// suite; needs `npm run test:e2e` to have set code-server up once). Exits 1 at the first failure,
// leaving that run's output in test-artifacts/repeat-<suite>-<run>.log.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const SUITES = {
  browser: ['node', ['--test', 'dist-test/browser']],
  unit: ['node', ['--test', '--test-concurrency=1', '--test-timeout=300000', 'dist-test/src', 'dist-test/test']],
  e2e: ['node', ['dist-test/e2e-driver.js']],
};

const args = process.argv.slice(2);
const busyAt = args.indexOf('--busy');
const busy = busyAt >= 0 ? Number(args.splice(busyAt, 2)[1]) : 1;
const [suite = 'browser', countText = '20'] = args;
const count = Number(countText);
if (!(suite in SUITES) || !Number.isInteger(count) || count < 1 || !Number.isInteger(busy) || busy < 0) {
  console.error(`usage: npm run test:repeat -- <${Object.keys(SUITES).join('|')}> <runs ≥ 1> [--busy <cores ≥ 0>]`);
  process.exit(2);
}

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
process.chdir(root);
// One build for every run: the runs measure the tests, not the bundler.
const build = spawnSync('node', ['esbuild.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

// A busy core is a thread that never yields; it dies with this process.
const spinners = Array.from({ length: busy }, () => new Worker('for (;;) {}', { eval: true }));

const artifacts = path.join(root, 'test-artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const [command, commandArgs] = SUITES[suite];

function runOnce(run) {
  return new Promise((resolve) => {
    const log = path.join(artifacts, `repeat-${suite}-${run}.log`);
    const out = fs.createWriteStream(log);
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    const started = Date.now();
    child.on('close', (code) => {
      out.end();
      resolve({ code, seconds: (Date.now() - started) / 1000, log });
    });
  });
}

let passed = 0;
for (let run = 1; run <= count; run++) {
  const { code, seconds, log } = await runOnce(run);
  if (code !== 0) {
    console.log(`run ${run}/${count}: FAILED (${seconds.toFixed(1)} s, exit ${code}); output in ${path.relative(root, log)}`);
    const text = fs.readFileSync(log, 'utf8');
    for (const line of text.split('\n').filter((l) => /not ok|Error|assert/i.test(l)).slice(0, 20)) console.log(`  ${line}`);
    break;
  }
  passed++;
  fs.rmSync(log);
  console.log(`run ${run}/${count}: passed (${seconds.toFixed(1)} s)`);
}
await Promise.all(spinners.map((w) => w.terminate()));
console.log(`${suite}: ${passed} of ${count} runs passed in a row, ${busy} core(s) kept busy`);
process.exit(passed === count ? 0 : 1);
