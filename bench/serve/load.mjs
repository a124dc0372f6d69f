// Load generator in its own process (so it does not share the server's event loop):
//   node bench/serve/load.mjs URL SECONDS CONNECTIONS REQUESTS_JSON_FILE [--new-connection-per-request]
// Prints autocannon's result as JSON on stdout. Requests cycle through the given mix.
//
// --new-connection-per-request: for servers that answer every request with `Connection: close`
// (Flask's dev server, gunicorn's sync workers). autocannon's keep-alive clients stall on Flask's
// server (it does not close after writing the next request's unread bytes) and count resets
// against gunicorn, and its reconnectRate option drops the response that triggers the reconnect.
// So for those servers: CONNECTIONS closed loops, each sending one request per fresh connection
// (what a client of such a server does), with the same mix, duration and result fields.
import autocannon from 'autocannon';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';

const [url, seconds, connections, file, mode] = process.argv.slice(2);
const requests = JSON.parse(readFileSync(file, 'utf8'));

async function closedLoops() {
  const target = new URL(url);
  const deadline = performance.now() + Number(seconds) * 1000;
  const latencies = [];
  const counts = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  let errors = 0;
  let timeouts = 0;
  let next = 0;
  const once = (r) =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: r.method,
          headers: { ...r.headers, 'content-length': Buffer.byteLength(r.body), connection: 'close' },
          agent: false,
          timeout: 10_000,
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            latencies.push(performance.now() - started);
            counts[`${Math.floor(res.statusCode / 100)}xx`]++;
            resolve();
          });
        },
      );
      req.on('timeout', () => {
        timeouts++;
        req.destroy();
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(r.body);
    });
  await Promise.all(
    Array.from({ length: Number(connections) }, async () => {
      while (performance.now() < deadline) await once(requests[next++ % requests.length]);
    }),
  );
  latencies.sort((a, b) => a - b);
  const q = (p) =>
    latencies.length
      ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))])
      : 0;
  return {
    requests: { total: latencies.length, average: latencies.length / Number(seconds) },
    latency: {
      p50: q(0.5),
      p99: q(0.99),
      max: q(1),
      average: latencies.reduce((s, x) => s + x, 0) / (latencies.length || 1),
    },
    ...counts,
    non2xx: latencies.length - counts['2xx'],
    errors,
    timeouts,
    mode: 'new-connection-per-request',
  };
}

const result =
  mode === '--new-connection-per-request'
    ? await closedLoops()
    : await autocannon({
        url,
        duration: Number(seconds),
        connections: Number(connections),
        pipelining: 1,
        requests,
      });
process.stdout.write(JSON.stringify(result));
