// Load generator in its own process (so it does not share the server's event loop):
//   node bench/serve/load.mjs URL SECONDS CONNECTIONS REQUESTS_JSON_FILE
// Prints autocannon's result as JSON on stdout. Requests cycle through the given mix.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';

const [url, seconds, connections, file] = process.argv.slice(2);
const requests = JSON.parse(readFileSync(file, 'utf8'));
const result = await autocannon({
  url,
  duration: Number(seconds),
  connections: Number(connections),
  pipelining: 1,
  requests,
});
process.stdout.write(JSON.stringify(result));
