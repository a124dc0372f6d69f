import { randomUUID } from 'node:crypto';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { httpErrorFor } from '#lib/serving/http-errors.ts';
import { MAX_BODY_BYTES } from '#lib/serving/request.ts';
import { apiGatewayEvent, parseRequestTarget } from './api-gateway-event.ts';
import type { ModelRouter } from './model-router.ts';

/**
 * What the server calls for POST /predict: the same handler the Lambda runs. `probe`, when the
 * version has one, is what GET /healthz runs to prove the version's model answers (one scoring
 * of an all-missing row, no metrics or logs); local/server/serve.ts attaches it.
 */
export interface ApiHandler {
  (event: ReturnType<typeof apiGatewayEvent>, context: Context): Promise<unknown>;
  probe?: () => Promise<void>;
}

/**
 * Every limit the local API Gateway puts on a client, in one place (docs/adr/0120-serve-limits.md).
 * The values are what API Gateway (or the web server a user knows) would do; tests pass shorter
 * ones through `limits`. None of them touches a well-behaved request: they only decide how long
 * a slow or broken client may hold a socket and how much it may make the server read.
 */
export interface ServerLimits {
  /** The whole header block must arrive within this (ms) of the request's first byte; else 408. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (ms) of its first byte; else 408. */
  requestTimeoutMs: number;
  /** How often node:http checks the two timeouts above (ms): their precision. */
  timeoutCheckIntervalMs: number;
  /** An idle keep-alive socket is closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** A keep-alive socket is closed (Connection: close) after answering this many requests. */
  maxRequestsPerSocket: number;
  /** More header fields than this: 431 TOO_MANY_HEADERS. */
  maxHeadersCount: number;
  /** Request line plus header block over this many bytes: 431 HEADERS_TOO_LARGE. */
  maxHeaderBytes: number;
  /** Bodies up to this reach the handler (which refuses over 4096 bytes with its own 413). */
  maxBufferedBodyBytes: number;
  /**
   * Bodies over maxBufferedBodyBytes are read and dropped up to this size, so the client reads its
   * 413 before the connection closes; past it the 413 is sent and the socket closed unread.
   */
  maxDrainedBodyBytes: number;
  /** Each GET /healthz check (feature store, model) that takes longer fails (ms). */
  healthCheckTimeoutMs: number;
}

export const SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  // API Gateway publishes no header timeout; a real client sends its headers in one packet, so 10 s
  // is generous for any link and closes a slow-loris socket 6x sooner than Node's 60 s default.
  headersTimeoutMs: 10_000,
  // API Gateway's integration timeout (29 s): a request may not take longer to arrive than the
  // gateway gives the whole call. Node's default (300 s) let a slow body hold a socket 5 minutes.
  requestTimeoutMs: 29_000,
  // Node checks the timeouts every 30 s by default, which would let a 10 s limit run to 40 s; a
  // check is one pass over the connections with a request in progress.
  timeoutCheckIntervalMs: 1_000,
  // Longer than the 60 s idle timeout of the load balancers and proxies usually put in front
  // (ALB's default), so such a proxy never reuses a socket this server has just closed.
  keepAliveTimeoutMs: 65_000,
  // The cluster deals connections to workers when they open; a reconnect now and then rebalances
  // long-lived clients over the workers, for one connection set-up per 10,000 requests. Not
  // nginx's 1,000: autocannon (the bench's load generator when wrk is missing) ignores
  // Connection: close, writes its next request on the closing socket and then pairs every later
  // response with an earlier request: at 1,000 its mean latency for a constant-answer server came
  // out about 2 ms instead of 0.1-0.3 ms at the same throughput (docs/adr/0120-serve-limits.md);
  // wrk, browsers and SDKs reconnect correctly.
  maxRequestsPerSocket: 10_000,
  // Apache's LimitRequestFields default; browsers and SDKs send 10-20.
  maxHeadersCount: 100,
  // API Gateway's limit on the request line and header values together (10,240 bytes); Node's
  // default is 16 KiB.
  maxHeaderBytes: 10_240,
  // The handler's documented limit is 4096 bytes (lib/serving/request.ts, openapi.json), and up
  // to here the handler answers the 413 itself, as it does behind API Gateway; bigger bodies are
  // never buffered.
  maxBufferedBodyBytes: 1024 * 1024,
  // API Gateway's payload limit (10 MB): a body up to it still gets its 413 read by the client.
  maxDrainedBodyBytes: 10 * 1024 * 1024,
  // Below the 5 s an ALB or Kubernetes probe waits by default, so a checker reads our 503 with its
  // reasons rather than its own timeout.
  healthCheckTimeoutMs: 2_000,
});

export interface LocalApiServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

export interface LocalApiServerOptions {
  router: ModelRouter<ApiHandler>;
  openapi: unknown;
  port?: number;
  host?: string;
  functionName?: string;
  /** Extra fields of the GET /healthz body (a cluster worker says which process answered). */
  health?: Record<string, unknown>;
  /** The store the handlers read, checked by GET /healthz (its current snapshot, with a timeout). */
  featureStore?: Pick<FeatureStore, 'currentSnapshot'>;
  /** Overrides of SERVER_LIMITS (tests use short timeouts). */
  limits?: Partial<ServerLimits>;
  /** The monitoring page GET /dashboard answers (lib/monitoring/dashboard-page.ts); absent: 404. */
  dashboard?: () => Promise<string>;
}

/**
 * A failed listen as the caller's problem when it is one (exit 2 in the CLI): the port taken,
 * a privileged port, an address this machine does not have. Anything else is returned as it is.
 */
export function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return new InputError(
      'PORT_IN_USE',
      `port ${port} on ${host} is in use (another credit-risk serve?): stop it or pick another with --port / PORT`,
    );
  if (code === 'EACCES')
    return new InputError(
      'PORT_NOT_PERMITTED',
      `port ${port} on ${host} needs privileges this user lacks: pick one above 1023 with --port / PORT`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new InputError(
      'BAD_HOST',
      `cannot listen on ${host}: not an address of this machine; use --host 127.0.0.1 (or 0.0.0.0 for every interface)`,
    );
  return e;
}

/**
 * Fails with listenError when host:port cannot be listened on, by binding it and letting go at
 * once. `credit-risk serve` calls it before opening the store and loading models, so a busy port
 * is one line in milliseconds, not after seconds of loading; the real listen still maps its own
 * failure (the port can be taken in between).
 */
export async function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  await new Promise<void>((resolveProbe, reject) => {
    probe.once('error', (e) => reject(listenError(e, host, port)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolveProbe()));
  });
}

/**
 * One response: the headers as a flat [name, value, ...] list (no header object to build and
 * merge per request) and the body in the same `end` call, which Node writes together with the
 * headers. A name given twice keeps its last value, as the object spread it replaces did.
 */
function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const list: string[] = [];
  if (!('content-type' in headers)) list.push('content-type', 'application/json');
  for (const name in headers) if (name !== 'content-length') list.push(name, headers[name]);
  list.push('content-length', String(Buffer.byteLength(text)));
  res.writeHead(status, list);
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown, headers: Record<string, string> = {}): void {
  const answer = httpErrorFor(e);
  send(res, answer.statusCode, answer.body, { ...answer.headers, ...headers });
}

/** How many requests a socket has carried (SERVER_LIMITS.maxRequestsPerSocket). */
const REQUESTS_SERVED = Symbol('requestsServed');

/** The request body ended or broke off before it was read (the client went away, a timeout). */
class BodyAbortedError extends Error {}

/** A body over maxBufferedBodyBytes: how much was read, and whether it was read to its end. */
interface BodyOverLimit {
  bytes: number;
  complete: boolean;
}

/**
 * The body as text; or, over maxBufferedBodyBytes, how much of it was read (the caller answers
 * 413). An over-limit body is read and dropped to its end, up to maxDrainedBodyBytes, and then
 * no further.
 */
function readBody(req: IncomingMessage, limits: ServerLimits): Promise<string | BodyOverLimit> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limits.maxDrainedBodyBytes) return resolve({ bytes: declared, complete: false });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limits.maxBufferedBodyBytes) chunks.push(chunk);
      else if (size > limits.maxDrainedBodyBytes && !done) {
        done = true;
        req.pause();
        resolve({ bytes: size, complete: false });
      }
    });
    req.on('end', () => {
      done = true;
      resolve(
        size > limits.maxBufferedBodyBytes
          ? { bytes: size, complete: true }
          : chunks.length === 1
            ? chunks[0].toString('utf8')
            : Buffer.concat(chunks).toString('utf8'),
      );
    });
    req.on('error', () => reject(new BodyAbortedError('request body aborted')));
    req.on('close', () => {
      if (!done) reject(new BodyAbortedError('request closed before its body ended'));
    });
  });
}

/** The answer to a parser-level failure, written raw on the socket (no request object exists). */
function rawAnswer(e: InputError): string {
  const answer = httpErrorFor(e);
  const body = JSON.stringify(answer.body);
  return (
    `HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}

/**
 * What node:http's parser or its timeouts found wrong with a client's bytes, as an InputError;
 * undefined when the client is simply gone (reset, broken pipe: nobody to answer).
 */
function clientErrorOf(
  e: NodeJS.ErrnoException & { reason?: string },
  limits: ServerLimits,
): InputError | undefined {
  switch (e.code) {
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_STREAM_DESTROYED':
      return undefined;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new InputError(
        'REQUEST_TIMEOUT',
        `the request did not arrive in time: headers within ${limits.headersTimeoutMs} ms and the ` +
          `whole request within ${limits.requestTimeoutMs} ms of its first byte`,
      );
    case 'HPE_HEADER_OVERFLOW':
      return new InputError(
        'HEADERS_TOO_LARGE',
        `the request line and headers exceed ${limits.maxHeaderBytes} bytes`,
      );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new InputError('PAYLOAD_TOO_LARGE', 'the chunk extensions of the request body are too large');
    default:
      return new InputError(
        'MALFORMED_REQUEST',
        `not a valid HTTP/1.1 request${e.reason ? ` (${e.reason})` : ''}; send POST /predict with a JSON body`,
      );
  }
}

/** Rejects with `what did not answer in N ms` when `p` takes longer; `p` itself is left to finish. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
  [detail: string]: unknown;
}

async function timed(check: () => Promise<Record<string, unknown>>): Promise<CheckResult> {
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 100) / 100;
  try {
    const detail = await check();
    return { ok: true, ms: ms(), ...detail };
  } catch (e) {
    return { ok: false, ms: ms(), error: e instanceof Error ? e.message : String(e) };
  }
}

function lambdaContext(functionName: string, requestId: string): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}:live`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, 30_000 - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The local API Gateway: POST /predict becomes the REST API proxy event and goes to the handler
 * of the version the alias routing picks (header x-model-version says which); GET /openapi.json
 * serves the API document; GET /healthz checks the feature store and the model and says which
 * versions serve; GET /dashboard is the monitoring page, when the caller gives one. Any other path is a 404 in the API's error shape, as the gateway's configured
 * responses give in AWS. A client's mistake is a 4xx in that shape at every level, the HTTP
 * parser's included (SERVER_LIMITS says what the server tolerates).
 */
export async function startLocalApiServer(options: LocalApiServerOptions): Promise<LocalApiServer> {
  const { router } = options;
  const limits: ServerLimits = { ...SERVER_LIMITS, ...options.limits };
  const functionName = options.functionName ?? 'predict';
  const openapiText = JSON.stringify(options.openapi);
  const host = options.host ?? '127.0.0.1';
  const askedPort = options.port ?? 8080;

  async function checkModel(): Promise<CheckResult> {
    const lease = router.acquire();
    if (!lease) return { ok: false, ms: 0, error: 'no champion loaded' };
    // The lease keeps the version loaded until the probe settles, even past the timeout.
    const probe = (lease.handler.probe?.() ?? Promise.resolve()).finally(() => lease.release());
    const result = await timed(async () => {
      await within(probe, limits.healthCheckTimeoutMs, `model ${lease.version}`);
      return {};
    });
    return { ...result, version: lease.version };
  }

  async function checkFeatureStore(store: Pick<FeatureStore, 'currentSnapshot'>): Promise<CheckResult> {
    return timed(async () => {
      const snapshotId = await within(
        store.currentSnapshot(),
        limits.healthCheckTimeoutMs,
        'the feature store',
      );
      if (snapshotId === undefined)
        throw new Error(
          'no snapshot is published: every /predict would be a 404 (credit-risk features publish)',
        );
      return { snapshotId };
    });
  }

  async function health(res: ServerResponse): Promise<void> {
    const [model, featureStore] = await Promise.all([
      checkModel(),
      options.featureStore ? checkFeatureStore(options.featureStore) : undefined,
    ]);
    const checks = featureStore ? { featureStore, model } : { model };
    const ok = model.ok && (featureStore?.ok ?? true);
    const state = router.state;
    send(
      res,
      ok ? 200 : 503,
      {
        status: ok ? 'ok' : 'unavailable',
        champion: state?.champion ?? null,
        canary: state?.canary ?? null,
        ...options.health,
        checks,
      },
      { 'cache-control': 'no-store' },
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Counted here rather than by node's maxRequestsPerSocket, which only says Connection: close
    // and then answers a client that keeps sending with bare 503s; this closes the socket itself.
    const socket = req.socket as Socket & { [REQUESTS_SERVED]?: number };
    const served = (socket[REQUESTS_SERVED] ?? 0) + 1;
    socket[REQUESTS_SERVED] = served;
    if (served >= limits.maxRequestsPerSocket) res.setHeader('connection', 'close');
    // maxHeadersCount keeps only that many in req.headers; rawHeaders has them all.
    if (req.rawHeaders.length > 2 * limits.maxHeadersCount) {
      return sendError(
        res,
        new InputError(
          'TOO_MANY_HEADERS',
          `the request has ${req.rawHeaders.length / 2} header fields; the limit is ${limits.maxHeadersCount}`,
        ),
        { connection: 'close' },
      );
    }
    // requireHostHeader is off so that this is a JSON 400 rather than node's empty one.
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      return sendError(res, new InputError('MISSING_HOST', 'an HTTP/1.1 request needs a Host header'), {
        connection: 'close',
      });
    }
    let url: ReturnType<typeof parseRequestTarget>;
    try {
      url = parseRequestTarget(req.url ?? '/');
    } catch {
      return sendError(
        res,
        new InputError('INVALID_URL', `the request target ${JSON.stringify(req.url)} is not a valid path`),
        { connection: 'close' },
      );
    }
    // HEAD is GET without the body (node:http leaves it out): load balancers probe with either.
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (url.pathname === '/openapi.json' && read) return send(res, 200, openapiText);
    if (url.pathname === '/healthz' && read) return health(res);
    if (url.pathname === '/dashboard' && req.method === 'GET' && options.dashboard) {
      let page: string;
      try {
        page = await options.dashboard();
      } catch (e) {
        process.stderr.write(`GET /dashboard failed: ${(e as Error).stack ?? String(e)}\n`);
        return sendError(res, e);
      }
      return send(res, 200, page, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      });
    }
    const body = await readBody(req, limits);
    if (url.pathname !== '/predict') {
      return sendError(
        res,
        new InputError('NOT_FOUND', `no route ${req.method} ${url.pathname}; use POST /predict`),
        typeof body === 'string' ? {} : { connection: 'close' },
      );
    }
    if (typeof body !== 'string') {
      return sendError(
        res,
        new InputError(
          'PAYLOAD_TOO_LARGE',
          `request body is ${body.complete ? '' : 'over '}${body.bytes} bytes; the limit is ${MAX_BODY_BYTES} (send {"id": "5008827"})`,
        ),
        { connection: 'close' },
      );
    }
    const lease = router.acquire();
    if (!lease) return sendError(res, new Error('no model loaded'));
    try {
      const requestId = randomUUID();
      const event = apiGatewayEvent(
        {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          remoteAddress: req.socket.remoteAddress,
        },
        body,
        requestId,
      );
      const result = (await lease.handler(
        event,
        lambdaContext(functionName, requestId),
      )) as APIGatewayProxyResult;
      const headers: Record<string, string> = {};
      const given = result.headers ?? {};
      for (const k in given) headers[k] = String(given[k]);
      headers['x-model-version'] = lease.version;
      send(res, result.statusCode, result.body, headers);
    } finally {
      lease.release();
    }
  }

  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
      maxHeaderSize: limits.maxHeaderBytes,
      requireHostHeader: false,
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        // A body cut off (the client left, or the request timeout answered 408 on the socket).
        if (e instanceof BodyAbortedError || res.writableEnded || req.socket.destroyed) return;
        if (!res.headersSent) sendError(res, e);
        else res.destroy();
      });
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxHeadersCount = limits.maxHeadersCount;
  server.on('clientError', (e: NodeJS.ErrnoException & { reason?: string }, duplex) => {
    const socket = duplex as Socket & { _httpMessage?: ServerResponse | null };
    const answer = clientErrorOf(e, limits);
    // node:http's own rule: answer only when no response has started on this socket (a request
    // in progress, e.g. a body cut by the timeout, has its ServerResponse there, unsent).
    if (!answer || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(rawAnswer(answer), () => socket.destroy());
    // A client that does not read its answer does not keep the socket either.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error) => reject(listenError(e, host, askedPort));
    server.once('error', failed);
    server.listen(askedPort, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // close() stops accepting and resolves when every connection is gone; in-flight requests
        // finish (their keep-alive sockets close after the response), idle ones are closed now.
        server.close(() => resolve());
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.once('close', () => clearInterval(sweep));
      });
      return closing;
    },
  };
}
