/**
 * The serve bench's floor: the least a Node server can do and still keep the bench's contract
 * (bench/peers/http-compare.ts checkContract), on the same cluster layout as `credit-risk serve`
 * (one worker per core by default). Each request: node:http, the body read and JSON.parse'd, the
 * id checked, one Map lookup, a JSON answer. No model, no feature store, no metrics, no logs.
 *
 * It is not a peer: it answers a constant probability. It is there to measure, in the same run
 * and under the same wrk mix, what this machine allows any Node server at all, so that ratios
 * against the peers can be read against that ceiling (docs/benchmarks/serve.md).
 *
 * usage: IDS_FILE=ids.json [WORKERS=N] PORT=P node bench/peers/node-floor.mjs
 *   IDS_FILE: a JSON array of the known customer ids (the bench writes it from its prepared data).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';

const port = Number(process.env.PORT ?? 8090);
const workers = Number(process.env.WORKERS ?? availableParallelism());
const MAX_BODY = 8 * 1024;

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers)
      console.log(`node floor listening on http://127.0.0.1:${port} (${workers} workers)`);
  });
  cluster.on('exit', (worker, code) => {
    console.error(`node floor: worker ${worker.process.pid} exited (${code}); stopping`);
    process.exit(1);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const known = new Map(JSON.parse(readFileSync(process.env.IDS_FILE, 'utf8')).map((id, i) => [id, i]));
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res, status, code, message) => json(res, status, { error: { code, message } });
  createServer((req, res) => {
    if (req.url !== '/predict') return error(res, 404, 'NOT_FOUND', 'use POST /predict');
    if (req.method !== 'POST') return error(res, 405, 'METHOD_NOT_ALLOWED', 'use POST');
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return error(res, 413, 'PAYLOAD_TOO_LARGE', 'body over 8 KiB');
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return error(res, 400, 'INVALID_JSON', 'body is not JSON');
      }
      const id = body?.id;
      if (typeof id !== 'string' || !/^\d{1,20}$/.test(id))
        return error(res, 400, 'INVALID_ID', 'id must be a string of digits');
      if (!known.has(id)) return error(res, 404, 'UNKNOWN_CUSTOMER', `no customer ${id}`);
      json(res, 200, {
        id,
        prediction: 0,
        probability: 0.25,
        threshold: 0.5,
        modelVersion: 'floor',
        featureSnapshot: 'floor',
      });
    });
  }).listen(port, '127.0.0.1');
}
