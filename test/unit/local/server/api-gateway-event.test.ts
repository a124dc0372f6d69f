import { describe, expect, it } from '@jest/globals';
import { apiGatewayEvent, parseRequestTarget } from '#local/server/api-gateway-event.ts';

describe('the local API Gateway event', () => {
  it('a plain path is its own path with no query; anything else is normalised as a URL', () => {
    expect(parseRequestTarget('/predict')).toEqual({ pathname: '/predict' });
    expect(parseRequestTarget('/a/../predict').pathname).toBe('/predict');
    expect(parseRequestTarget('/pre%64ict').pathname).toBe('/pre%64ict');
    const q = parseRequestTarget('/predict?x=1&x=2');
    expect(q.pathname).toBe('/predict');
    expect(q.searchParams?.getAll('x')).toEqual(['1', '2']);
  });

  it('carries the path, the query (single and multi-value) and the headers as API Gateway does', () => {
    const plain = apiGatewayEvent(
      { method: 'POST', url: '/predict', headers: { 'x-api-key': 'k' } },
      '{"id":"1"}',
      'r1',
      5,
    );
    expect(plain).toMatchObject({
      resource: '/predict',
      path: '/predict',
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      body: '{"id":"1"}',
      requestContext: { requestId: 'r1', requestTimeEpoch: 5, identity: { apiKey: 'k' } },
    });
    const withQuery = apiGatewayEvent({ method: 'POST', url: '/./predict?a=1&a=2', headers: {} }, '', 'r2');
    expect(withQuery).toMatchObject({
      path: '/predict',
      queryStringParameters: { a: '2' },
      multiValueQueryStringParameters: { a: ['1', '2'] },
      body: null,
    });
  });
});
