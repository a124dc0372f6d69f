import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { InputError } from '#lib/errors.ts';
import { httpErrorFor } from '#lib/serving/http-errors.ts';
import { apiGatewayEvent, parseRequestTarget } from './api-gateway-event.ts';
import type { ModelRouter } from './model-router.ts';

/** What the server calls for POST /predict: the same handler the Lambda runs. */
export type ApiHandler = (event: ReturnType<typeof apiGatewayEvent>, context: Context) => Promise<unknown>;

/**
 * Bodies above this never reach the handler (API Gateway's own limit is 10 MB; ours is smaller
 * because the handler refuses anything over 4 KiB anyway). Between the two, the handler answers
 * 413 itself, exactly as it does in AWS.
 */
export const GATEWAY_MAX_BODY_BYTES = 1024 * 1024;

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

/** The body as text, or undefined when it exceeded the gateway limit (the caller answers 413). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > GATEWAY_MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
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
 * serves the API document; GET /healthz says which versions serve. Any other path is a 404 in
 * the API's error shape, as the gateway's configured responses give in AWS.
 */
export async function startLocalApiServer(options: LocalApiServerOptions): Promise<LocalApiServer> {
  const { router } = options;
  const functionName = options.functionName ?? 'predict';
  const openapiText = JSON.stringify(options.openapi);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseRequestTarget(req.url ?? '/');
    if (url.pathname === '/openapi.json' && req.method === 'GET') return send(res, 200, openapiText);
    if (url.pathname === '/healthz' && req.method === 'GET') {
      const state = router.state;
      return send(res, state ? 200 : 503, { status: state ? 'ok' : 'loading', ...state, ...options.health });
    }
    if (url.pathname !== '/predict') {
      req.resume();
      return sendError(
        res,
        new InputError('NOT_FOUND', `no route ${req.method} ${url.pathname}; use POST /predict`),
      );
    }
    const body = await readBody(req);
    if (body === undefined) {
      return sendError(
        res,
        new InputError('PAYLOAD_TOO_LARGE', `request body exceeds ${GATEWAY_MAX_BODY_BYTES} bytes`),
        {
          connection: 'close',
        },
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

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    });
  });
  // Keep-alive long enough for load generators; idle sockets are closed on shutdown.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
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
