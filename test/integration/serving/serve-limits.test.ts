/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import type { LocalRoot } from '#local/root.ts';
import { SERVER_LIMITS, type ServerLimits } from '#local/server/http-server.ts';
import { startServe, type RunningServe } from '#local/server/serve.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';
import { MemoryFeatureStore } from '../../unit/serving/fake-ports.ts';
import { writeFixtureModel } from './fixture-model.ts';

/**
 * `credit-risk serve` against clients an API Gateway would survive: slow, broken, oversized.
 * Real server on port 0 over the real ONNX fixture model; short timeouts through `limits`.
 */

interface Raw {
  status?: number;
  headers: Record<string, string>;
  body?: any;
  /** ms from the first byte written until the server closed the socket. */
  closedAfterMs: number;
}

/** Parses one HTTP/1.1 response (status, headers, JSON body) out of what the socket received. */
function parseRaw(text: string, closedAfterMs: number): Raw {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { headers: {}, closedAfterMs };
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const bodyText = text.slice(end + 4, end + 4 + length);
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: bodyText ? JSON.parse(bodyText) : undefined,
    closedAfterMs,
  };
}

/**
 * Opens a socket, lets `drive` write to it, and resolves with what came back once the server
 * closed it (or after `giveUpMs`, then with closedAfterMs = Infinity).
 */
function rawExchange(port: number, drive: (s: Socket) => void, giveUpMs = 10_000): Promise<Raw> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let started = 0;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(parseRaw(text, Number.POSITIVE_INFINITY));
    }, giveUpMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseRaw(text, performance.now() - started));
    });
    socket.on('connect', () => {
      started = performance.now();
      drive(socket);
    });
  });
}

async function predict(base: string, body = '{"id":"5008827"}') {
  const res = await fetch(`${base}/predict`, { method: 'POST', body });
  return { status: res.status, body: (await res.json()) as any };
}

const running: RunningServe[] = [];
afterAll(async () => {
  for (const r of running) await r.close();
});

describeWithPython('credit-risk serve under hostile clients (real ONNX model)', (python) => {
  let root: LocalRoot;
  let modelName: string;
  let version: string;

  beforeAll(async () => {
    const home = freshHome();
    const objectStore = new FsObjectStore(home.store);
    root = { home, objectStore, featureStore: new MemoryFeatureStore(), clock: fixedClock('2025-01-01') };
    const registry = new ModelRegistry(objectStore);
    const dir = writeFixtureModel(python, 0.5, 1);
    const registered = await registry.register({
      model: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
      card: readFileSync(join(dir, 'card.json'), 'utf8'),
      report: readFileSync(join(dir, 'report.html'), 'utf8'),
    });
    await registry.promote(registered.version);
    modelName = registry.name;
    version = registered.version;
  });

  async function serve(
    limits: Partial<ServerLimits> = {},
    featureStore = new MemoryFeatureStore(),
  ): Promise<{ serve: RunningServe; port: number; base: string; store: MemoryFeatureStore }> {
    const s = await startServe({ root, featureStore, modelName, port: 0, limits });
    running.push(s);
    return { serve: s, port: s.server.port, base: s.server.url, store: featureStore };
  }

  describe('slow clients', () => {
    const fast = { headersTimeoutMs: 300, requestTimeoutMs: 1_000, timeoutCheckIntervalMs: 50 };

    it('a slow-loris socket sending its headers byte by byte is closed with a 408 within the header timeout', async () => {
      const { port, base } = await serve(fast);
      const head = `POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(10_000)}`;
      let i = 0;
      const raw = await rawExchange(port, (s) => {
        const t = setInterval(() => {
          if (s.destroyed || i >= head.length) return clearInterval(t);
          s.write(head[i++]);
        }, 20);
      });
      // Closed by the header timeout (300 ms, checked every 50 ms), not by giving up or the client.
      expect(raw.closedAfterMs).toBeGreaterThanOrEqual(250);
      expect(raw.closedAfterMs).toBeLessThan(2_000);
      expect(i).toBeLessThan(head.length);
      expect(raw.status).toBe(408);
      expect(raw.headers['content-type']).toBe('application/json');
      expect(raw.body).toEqual({
        error: { code: 'REQUEST_TIMEOUT', message: expect.stringContaining('300 ms') },
      });
      expect((await predict(base)).status).toBe(200);
    });

    it('a socket that connects and sends nothing is closed within the header timeout', async () => {
      const { port } = await serve(fast);
      const raw = await rawExchange(port, () => undefined);
      expect(raw.closedAfterMs).toBeLessThan(2_000);
      expect(raw.status).toBe(408);
    });

    it('a body that stops half way is answered 408 REQUEST_TIMEOUT and the socket closed', async () => {
      const { port, base } = await serve(fast);
      const raw = await rawExchange(port, (s) =>
        s.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id":"500'),
      );
      expect(raw.closedAfterMs).toBeGreaterThanOrEqual(900);
      expect(raw.closedAfterMs).toBeLessThan(3_000);
      expect(raw.status).toBe(408);
      expect(raw.body.error.code).toBe('REQUEST_TIMEOUT');
      expect((await predict(base)).status).toBe(200);
    });
  });

  describe('oversized and malformed requests (default limits)', () => {
    let port: number;
    let base: string;
    beforeAll(async () => {
      ({ port, base } = await serve());
    });

    it('a 10 MB body is a 413 PAYLOAD_TOO_LARGE in the error shape, and the server keeps serving', async () => {
      const tenMb = JSON.stringify({ id: '5008827', pad: 'x'.repeat(10 * 1024 * 1024 - 30) });
      expect(Buffer.byteLength(tenMb)).toBeLessThanOrEqual(SERVER_LIMITS.maxDrainedBodyBytes);
      expect(Buffer.byteLength(tenMb)).toBeGreaterThan(10_000_000);
      const res = await predict(base, tenMb);
      expect(res.status).toBe(413);
      expect(res.body).toEqual({
        error: { code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('the limit is 4096') },
      });
      const after = await predict(base);
      expect(after.status).toBe(200);
      expect(after.body.modelVersion).toBe(version);
    });

    it('a body declared over 10 MiB is refused with 413 before it is read', async () => {
      const raw = await rawExchange(port, (s) =>
        s.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n{"id":`),
      );
      expect(raw.status).toBe(413);
      expect(raw.headers.connection).toBe('close');
      expect(raw.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('bytes that are not HTTP are a 400 MALFORMED_REQUEST in the error shape', async () => {
      const raw = await rawExchange(port, (s) => s.write('HELLO THERE\r\n\r\n'));
      expect(raw.status).toBe(400);
      expect(raw.body).toEqual({ error: { code: 'MALFORMED_REQUEST', message: expect.any(String) } });
      const bad = await rawExchange(port, (s) =>
        s.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'),
      );
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('MALFORMED_REQUEST');
      expect((await predict(base)).status).toBe(200);
    });

    it('more header fields than the limit is a 431 TOO_MANY_HEADERS', async () => {
      const fields = Array.from({ length: SERVER_LIMITS.maxHeadersCount + 1 }, (_, i) => `x-h${i}: 1\r\n`);
      const raw = await rawExchange(port, (s) =>
        s.write(
          `POST /predict HTTP/1.1\r\nHost: x\r\n${fields.join('')}Content-Length: 16\r\n\r\n{"id":"5008827"}`,
        ),
      );
      expect(raw.status).toBe(431);
      expect(raw.body.error).toEqual({
        code: 'TOO_MANY_HEADERS',
        message: expect.stringContaining('has 103 header fields'),
      });
      // Up to the limit is fine.
      const ok = await rawExchange(port, (s) =>
        s.write(
          `POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${fields.slice(0, SERVER_LIMITS.maxHeadersCount - 3).join('')}Content-Length: 16\r\n\r\n{"id":"5008827"}`,
        ),
      );
      expect(ok.status).toBe(200);
    });

    it('headers over 10,240 bytes are a 431 HEADERS_TOO_LARGE', async () => {
      const raw = await rawExchange(port, (s) =>
        s.write(
          `GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: ${'b'.repeat(SERVER_LIMITS.maxHeaderBytes)}\r\n\r\n`,
        ),
      );
      expect(raw.status).toBe(431);
      expect(raw.body.error.code).toBe('HEADERS_TOO_LARGE');
      expect((await predict(base)).status).toBe(200);
    });

    it('a request target that is no URL path, or no Host header, is a 400, never a 500', async () => {
      const target = await rawExchange(port, (s) =>
        s.write('POST //x:99999/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'),
      );
      expect(target.status).toBe(400);
      expect(target.body.error.code).toBe('INVALID_URL');
      const noHost = await rawExchange(port, (s) => s.write('GET /healthz HTTP/1.1\r\n\r\n'));
      expect(noHost.status).toBe(400);
      expect(noHost.body.error.code).toBe('MISSING_HOST');
    });
  });

  it('a keep-alive socket is closed after maxRequestsPerSocket answers', async () => {
    const { port } = await serve({ maxRequestsPerSocket: 3 });
    const one = 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"id":"5008827"}';
    /** The complete responses in `text` (by their content-length). */
    const responses = (text: string): string[] => {
      const out: string[] = [];
      for (let at = 0; ;) {
        const end = text.indexOf('\r\n\r\n', at);
        if (end < 0) return out;
        const length = Number(/content-length: (\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
        if (text.length < end + 4 + length) return out;
        out.push(text.slice(at, end + 4 + length));
        at = end + 4 + length;
      }
    };
    let text = '';
    let sent = 0;
    const raw = await rawExchange(port, (s) => {
      const next = () => {
        sent++;
        s.write(one);
      };
      // One request at a time, the next when the previous is answered, as long as the socket is open.
      s.on('data', (d: string) => {
        text += d;
        if (responses(text).length === sent && !s.destroyed) next();
      });
      next();
    });
    expect(raw.closedAfterMs).toBeLessThan(Number.POSITIVE_INFINITY);
    const answers = responses(text);
    expect(answers.map((a) => a.slice(0, 12))).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(answers.map((a) => /connection: close/i.test(a))).toEqual([false, false, true]);
  });

  it('refuses a busy port with PORT_IN_USE and leaves nothing running', async () => {
    const holder = createNetServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const busy = (holder.address() as AddressInfo).port;
    try {
      await expect(
        startServe({ root, featureStore: new MemoryFeatureStore(), modelName, port: busy }),
      ).rejects.toMatchObject({
        code: 'PORT_IN_USE',
        message: `port ${busy} on 127.0.0.1 is in use (another credit-risk serve?): stop it or pick another with --port / PORT`,
      });
    } finally {
      holder.close();
    }
  });

  describe('GET /healthz', () => {
    async function health(base: string) {
      const res = await fetch(`${base}/healthz`);
      return { status: res.status, body: (await res.json()) as any };
    }

    it('200 when the feature store and the model answer, with the versions served', async () => {
      const { base } = await serve();
      const h = await health(base);
      expect(h.status).toBe(200);
      expect(h.body).toEqual({
        status: 'ok',
        champion: version,
        canary: null,
        checks: {
          featureStore: { ok: true, ms: expect.any(Number), snapshotId: 'snap-test' },
          model: { ok: true, ms: expect.any(Number), version },
        },
      });
    });

    it('503 naming the feature store when it is down, 200 again when it is back', async () => {
      const { base, store } = await serve();
      store.down = true;
      const down = await health(base);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({
        status: 'unavailable',
        champion: version,
        checks: {
          featureStore: { ok: false, error: 'connection refused (test)' },
          model: { ok: true, version },
        },
      });
      store.down = false;
      expect((await health(base)).status).toBe(200);
    });

    it('503 when the store has no snapshot (every /predict would be a 404)', async () => {
      const { base } = await serve({}, new MemoryFeatureStore([]));
      const h = await health(base);
      expect(h.status).toBe(503);
      expect(h.body.checks.featureStore).toMatchObject({
        ok: false,
        error: expect.stringContaining('no snapshot'),
      });
    });

    it('503 within the check timeout when the store hangs', async () => {
      const hanging = new MemoryFeatureStore();
      hanging.currentSnapshot = () => new Promise<string | undefined>(() => undefined);
      const { base } = await serve({ healthCheckTimeoutMs: 200 }, hanging);
      const started = performance.now();
      const h = await health(base);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(h.status).toBe(503);
      expect(h.body.checks.featureStore.error).toBe('the feature store did not answer in 200 ms');
    });

    it('503 naming the model when its version does not answer', async () => {
      const { serve: s, base } = await serve();
      const lease = s.router.acquire()!;
      const probe = lease.handler.probe;
      lease.release();
      lease.handler.probe = () => Promise.reject(new Error('onnx session released'));
      try {
        const h = await health(base);
        expect(h.status).toBe(503);
        expect(h.body.checks).toMatchObject({
          featureStore: { ok: true },
          model: { ok: false, version, error: 'onnx session released' },
        });
      } finally {
        lease.handler.probe = probe;
      }
      expect((await health(base)).status).toBe(200);
    });
  });
});
