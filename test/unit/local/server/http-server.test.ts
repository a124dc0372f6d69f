import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { startLocalApiServer, type ApiHandler, type LocalApiServer } from '#local/server/http-server.ts';
import { ModelRouter, type AliasState } from '#local/server/model-router.ts';
import { openApiChecker } from '../../../integration/serving/openapi-validator.ts';
import { MemoryFeatureStore, RecordingModel } from '../../serving/fake-ports.ts';

const openapi = JSON.parse(readFileSync('openapi/openapi.json', 'utf8'));
const checker = openApiChecker();

interface Started {
  server: LocalApiServer;
  router: ModelRouter<ApiHandler>;
  store: MemoryFeatureStore;
  setAliases(a: AliasState): void;
  /** Resolves the pending scoring of version `v` (models built with slow=true wait for this). */
  gates: Map<string, Array<() => void>>;
}

const running: Started[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await s.server.close();
    await s.router.close();
  }
});

async function start(
  aliases: AliasState,
  options: { slow?: string[]; random?: () => number; dashboard?: () => Promise<string> } = {},
): Promise<Started> {
  let current = aliases;
  const store = new MemoryFeatureStore();
  const gates = new Map<string, Array<() => void>>();
  const router = new ModelRouter<ApiHandler>({
    readAliases: async () => current,
    random: options.random,
    load: async (version) => {
      const model = new RecordingModel(version);
      if (options.slow?.includes(version)) {
        const score = model.scoreRows.bind(model);
        model.scoreRows = async (f, n) => {
          await new Promise<void>((resolve) =>
            (gates.get(version) ?? gates.set(version, []).get(version)!).push(resolve),
          );
          return score(f, n);
        };
      }
      return {
        handler: createPredictHandler({
          featureStore: store,
          clock: fixedClock('2025-01-01'),
          model,
        }) as ApiHandler,
        dispose: async () => {},
      };
    },
  });
  await router.refresh();
  const server = await startLocalApiServer({ router, openapi, port: 0, dashboard: options.dashboard });
  const s = { server, router, store, gates, setAliases: (a: AliasState) => (current = a) };
  running.push(s);
  return s;
}

async function call(server: LocalApiServer, path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  const headers = Object.fromEntries(res.headers.entries());
  const body = text === '' ? undefined : JSON.parse(text);
  return { status: res.status, headers, body };
}

const post = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/json' } });

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('local API server (the API Gateway stand-in)', () => {
  it('GET /dashboard answers the page it is given as HTML; without one it is the 404 of any other path', async () => {
    const page = '<!doctype html><p>page</p>';
    const withPage = await start({ champion: 'vA', canary: null }, { dashboard: async () => page });
    const res = await fetch(`${withPage.server.url}/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(page);
    const without = await start({ champion: 'vA', canary: null });
    const missing = await call(without.server, '/dashboard');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('a page that cannot be built is a 500 in the error shape, and the server goes on', async () => {
    const { server } = await start(
      { champion: 'vA', canary: null },
      {
        dashboard: async () => {
          throw new Error('disk gone');
        },
      },
    );
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      const res = await call(server, '/dashboard');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'INTERNAL_ERROR', message: expect.any(String) } });
    } finally {
      process.stderr.write = stderr;
    }
    expect((await call(server, '/predict', post('{"id": "5008827"}'))).status).toBe(200);
  });

  it('answers POST /predict per the contract, with the version header, valid against the OpenAPI document', async () => {
    const { server } = await start({ champion: 'vA', canary: null });
    const res = await call(server, '/predict', post('{"id": "5008827"}'));
    expect(res.status).toBe(200);
    expect(res.headers['x-model-version']).toBe('vA');
    expect(res.body).toMatchObject({ id: '5008827', modelVersion: 'vA', featureSnapshot: 'snap-test' });
    expect(checker.check('/predict', 'POST', res.status, res.headers, res.body)).toEqual([]);
  });

  it('accepts the form content type curl -d sends', async () => {
    const { server } = await start({ champion: 'vA', canary: null });
    const res = await call(server, '/predict', {
      method: 'POST',
      body: '{"id":"5008827"}',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['unknown customer', 404, 'UNKNOWN_CUSTOMER', post('{"id": "1"}')],
    ['malformed JSON', 400, 'INVALID_JSON', post('{"id": ')],
    ['missing id', 400, 'INVALID_ID', post('{}')],
    ['numeric id', 400, 'INVALID_ID', post('{"id": 5008827}')],
    ['non-numeric id', 400, 'INVALID_ID', post('{"id": "abc"}')],
    ['empty body', 400, 'INVALID_JSON', { method: 'POST' }],
    ['oversized body', 413, 'PAYLOAD_TOO_LARGE', post(JSON.stringify({ id: '1', pad: 'x'.repeat(5000) }))],
    ['body over the gateway limit', 413, 'PAYLOAD_TOO_LARGE', post('x'.repeat(2 * 1024 * 1024))],
    ['GET /predict', 405, 'METHOD_NOT_ALLOWED', { method: 'GET' }],
    ['PUT /predict', 405, 'METHOD_NOT_ALLOWED', { method: 'PUT', body: '{"id":"5008827"}' }],
  ])('%s -> %d %s, in the documented error shape', async (_name, status, code, init) => {
    const { server } = await start({ champion: 'vA', canary: null });
    const res = await call(server, '/predict', init as RequestInit);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(checker.check('/predict', 'POST', res.status, res.headers, res.body)).toEqual([]);
  });

  it('an unknown path is a 404 NOT_FOUND in the error shape', async () => {
    const { server } = await start({ champion: 'vA', canary: null });
    const res = await call(server, '/nope', post('{"id":"5008827"}'));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('/nope') } });
  });

  it('the feature store going away gives 503 and the server recovers when it is back', async () => {
    const { server, store } = await start({ champion: 'vA', canary: null });
    store.down = true;
    const down = await call(server, '/predict', post('{"id":"5008827"}'));
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('FEATURE_STORE_UNAVAILABLE');
    expect(checker.check('/predict', 'POST', down.status, down.headers, down.body)).toEqual([]);
    store.down = false;
    expect((await call(server, '/predict', post('{"id":"5008827"}'))).status).toBe(200);
  });

  it('serves the OpenAPI document at GET /openapi.json', async () => {
    const { server } = await start({ champion: 'vA', canary: null });
    const res = await call(server, '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(openapi);
    expect(res.body.openapi).toMatch(/^3\.1\./);
  });

  it('routes by the canary weight and says which version answered', async () => {
    let i = 0;
    const { server } = await start(
      { champion: 'vA', canary: { version: 'vB', weight: 0.25 } },
      { random: () => (i++ % 4) / 4 },
    );
    const versions: string[] = [];
    for (let n = 0; n < 8; n++) {
      const res = await call(server, '/predict', post('{"id":"5008827"}'));
      expect(res.body.modelVersion).toBe(res.headers['x-model-version']);
      versions.push(res.headers['x-model-version']);
    }
    expect(versions.filter((v) => v === 'vB')).toHaveLength(2);
    expect(versions.filter((v) => v === 'vA')).toHaveLength(6);
  });

  it('an alias change is picked up without dropping the request in flight on the old version', async () => {
    const s = await start({ champion: 'vA', canary: null }, { slow: ['vA'] });
    const pending = call(s.server, '/predict', post('{"id":"5008827"}'));
    await waitFor(() => (s.gates.get('vA')?.length ?? 0) === 1);
    s.setAliases({ champion: 'vB', canary: null });
    await s.router.refresh();
    const fresh = await call(s.server, '/predict', post('{"id":"5008827"}'));
    expect(fresh.headers['x-model-version']).toBe('vB');
    s.gates.get('vA')![0]();
    const old = await pending;
    expect(old.status).toBe(200);
    expect(old.headers['x-model-version']).toBe('vA');
  });

  it('close waits for the request in flight to be answered', async () => {
    const s = await start({ champion: 'vA', canary: null }, { slow: ['vA'] });
    const pending = call(s.server, '/predict', post('{"id":"5008827"}'));
    await waitFor(() => (s.gates.get('vA')?.length ?? 0) === 1);
    let closed = false;
    const closing = s.server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    s.gates.get('vA')![0]();
    expect((await pending).status).toBe(200);
    await closing;
    expect(closed).toBe(true);
    await expect(fetch(`${s.server.url}/predict`, post('{}'))).rejects.toThrow();
  });
});
