import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The API Gateway REST API (payload 1.0) proxy event for one local HTTP request: the same shape
 * events/predict-*.json holds and the deployed handler receives, so the handler cannot tell the
 * local server from API Gateway. Header names are lower-cased, as Node gives them.
 */
/** A request target made of plain path characters only: its path is itself and it has no query. */
const PLAIN_PATH = /^\/[A-Za-z0-9_\-/]*$/;

/**
 * The path and query of a request target. The common target (`/predict`: no query, no dot
 * segment, no percent-encoding) is its own path, which spares a WHATWG URL parse per request;
 * anything else goes through `new URL`, which normalises it.
 */
export function parseRequestTarget(target: string): { pathname: string; searchParams?: URLSearchParams } {
  if (PLAIN_PATH.test(target)) return { pathname: target };
  const url = new URL(target, 'http://localhost');
  return { pathname: url.pathname, searchParams: url.searchParams };
}

export function apiGatewayEvent(
  request: { method: string; url: string; headers: IncomingHttpHeaders; remoteAddress?: string },
  body: string,
  requestId: string,
  now = Date.now(),
): APIGatewayProxyEvent {
  const url = parseRequestTarget(request.url);
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values.join(',');
    multiValueHeaders[name] = values;
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams ?? []) {
    query[k] = v;
    (multiQuery[k] ??= []).push(v);
  }
  const hasQuery = (url.searchParams?.size ?? 0) > 0;
  // REST API: `resource` is the matched route template; a path no route matches never reaches a
  // function there (the gateway answers 404), so the local server only forwards /predict.
  return {
    resource: url.pathname,
    path: url.pathname,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: request.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: headers['x-api-key'] ?? null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.remoteAddress ?? '127.0.0.1',
        user: null,
        userAgent: headers['user-agent'] ?? null,
        userArn: null,
      },
      path: url.pathname,
      stage: 'local',
      requestId,
      requestTimeEpoch: now,
      resourceId: 'local',
      resourcePath: url.pathname,
    },
    body: body === '' ? null : body,
    isBase64Encoded: false,
  };
}
