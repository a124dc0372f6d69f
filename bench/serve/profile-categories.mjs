#!/usr/bin/env node
/**
 * Where a serve worker's CPU goes, by category, from a V8 CPU profile (docs/adr/0198).
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bin/credit-risk.mjs serve --port 8731   # workers inherit the flag
 *   wrk -t2 -c32 -d10s -s <the serve bench's mix.lua> http://127.0.0.1:8731/predict
 *   (Ctrl-C the server: each process writes its profile on exit)
 *   node bench/serve/profile-categories.mjs /tmp/prof/<a worker's>.cpuprofile
 *
 * Each sample goes to the first category whose test matches a frame of its stack (leaf first);
 * start-up (module and model loading) is left out. Idle time is not counted.
 */
import { readFileSync } from 'node:fs';

const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const rules = [
  [
    'startup (module load, model load)',
    (f) =>
      /loader|translators|module_job|lexer|hooks|loadRegisteredModel|loadServingModel|buildShapKernel|wasm/.test(
        f.url + ' ' + f.functionName,
      ),
  ],
  ['TreeSHAP (shapKernel)', (f) => f.functionName === 'shapKernel'],
  ['ONNX run (onnxruntime-node)', (f) => /onnxruntime-node/.test(f.url)],
  ['Powertools Logger', (f) => /logger\/lib/.test(f.url)],
  ['Powertools Metrics', (f) => /metrics\/lib/.test(f.url)],
  ['log pseudonym (HMAC)', (f) => /hmacSha256Hex|compress/.test(f.functionName) && /chunk|hmac/.test(f.url)],
  ['prediction log', (f) => /encodePredictionRecord|predictionRecord|^record$/.test(f.functionName)],
  // The console interception of local/server/telemetry-sink.ts (named `divert` in compiled chunks too).
  ['telemetry files (sink)', (f) => f.functionName === 'divert' || /telemetry-sink/.test(f.url)],
  ['HTTP response write (writev)', (f) => f.functionName === 'writev'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
];
const sums = new Map();
let busy = 0;
for (let i = 0; i < p.samples.length; i++) {
  const id = p.samples[i];
  const dt = p.timeDeltas[i] ?? 0;
  const leaf = byId.get(id);
  if (leaf.callFrame.functionName === '(idle)') continue;
  const frames = [];
  let cur = id;
  while (cur !== undefined) {
    frames.push(byId.get(cur).callFrame);
    cur = parent.get(cur);
  }
  let cat = 'other (node http, our handler, JSON)';
  outer: for (const [name, test] of rules)
    for (const f of frames)
      if (test(f)) {
        cat = name;
        break outer;
      }
  sums.set(cat, (sums.get(cat) ?? 0) + dt);
  busy += dt;
}
const start = sums.get('startup (module load, model load)') ?? 0;
const serving = busy - start;
console.log(`serving busy ${(serving / 1e6).toFixed(2)} s (startup ${(start / 1e6).toFixed(2)} s excluded)`);
for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1]))
  if (!k.startsWith('startup')) console.log(((100 * v) / serving).toFixed(1).padStart(5) + '%', k);
