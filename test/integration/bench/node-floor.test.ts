import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../../bench/peers/http-compare.ts';

/**
 * The serve bench's node-floor target (bench/peers/node-floor.mjs) only means "the ceiling of a
 * Node server under the same mix" if it keeps the contract the bench checks for every target:
 * 200 with a prediction for a known id, 404 for an unknown one, 400 for bad bodies.
 */
const script = resolve('bench/peers/node-floor.mjs');
let child: ChildProcess | undefined;
let dir: string;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'node-floor-'));
  writeFileSync(join(dir, 'ids.json'), JSON.stringify(['5008827', '5008830']));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), WORKERS: '1', IDS_FILE: join(dir, 'ids.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ok, fail) => {
    child!.stdout!.on('data', (c: Buffer) => (String(c).includes('listening') ? ok() : undefined));
    child!.once('exit', (code) => fail(new Error(`node-floor exited with ${code}`)));
  });
});

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const post = async (body: string, path = '/predict', method = 'POST') => {
  const r = await fetch(base + path, {
    method,
    body: method === 'GET' ? undefined : body,
    headers: { 'content-type': 'application/json' },
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
};

test('a known id gets 200 with the contract fields', async () => {
  const r = await post('{"id":"5008830"}');
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ id: '5008830', prediction: 0, threshold: 0.5 });
  expect(typeof r.json.probability).toBe('number');
});

test('an unknown id is 404 UNKNOWN_CUSTOMER, bad bodies are 400 with the codes the bench checks', async () => {
  expect(await post('{"id":"9000000001"}')).toMatchObject({
    status: 404,
    json: { error: { code: 'UNKNOWN_CUSTOMER' } },
  });
  expect(await post('{"id": ')).toMatchObject({ status: 400, json: { error: { code: 'INVALID_JSON' } } });
  expect(await post('{"id": 5008827}')).toMatchObject({
    status: 400,
    json: { error: { code: 'INVALID_ID' } },
  });
  expect(await post(JSON.stringify({ id: 'x'.repeat(9000) }))).toMatchObject({ status: 413 });
  expect(await post('', '/predict', 'GET')).toMatchObject({ status: 405 });
  expect(await post('{}', '/nope')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
});
