// The AWS API emulators `npm run test:aws` runs the AWS adapters against (docs/adr/0130):
//   moto's server (.venv-aws)       S3, Step Functions with its ASL interpreter, Lambda versions and
//                                   aliases (invoke without Docker: moto's "simple" backend), SNS
//   PostgreSQL (Debian's server)    a throw-away cluster in a temp dir, trust auth, loopback only
//   data-api-local (npm)            the RDS Data API in front of that PostgreSQL
// Each listens on a free loopback port. startEmulators() returns the environment the tests need and
// a stop() that ends everything it started; a tool that is missing is reported in `missing`.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');

/** A port the kernel just handed out on 127.0.0.1 (closed again; the emulator binds it next). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitFor(what, probe, { timeoutMs = 60_000, child } = {}) {
  const t0 = Date.now();
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      if (await probe()) return Date.now() - t0;
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The newest Debian PostgreSQL server binaries, or $CREDIT_RISK_PG_BIN, or undefined. */
export function postgresBinDir() {
  const fromEnv = process.env.CREDIT_RISK_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'postgres')) ? fromEnv : undefined;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin/postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(base, versions[0], 'bin') : undefined;
}

/**
 * PostgreSQL refuses to run as root. As root the cluster runs as the `postgres` account the Debian
 * package creates (spawned with its uid/gid, no su/runuser in between, so signals reach the server
 * itself); as anyone else it runs as that user.
 */
function postgresAccount() {
  if (process.getuid?.() !== 0) return {};
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function startPostgres(log) {
  const bin = postgresBinDir();
  if (!bin) return { missing: 'PostgreSQL server (apt-get install postgresql)' };
  const account = postgresAccount();
  if (!account)
    return {
      missing: 'a `postgres` account to run PostgreSQL as (running as root; apt-get install postgresql)',
    };
  const dir = mkdtempSync(join(tmpdir(), 'cr-aws-pg-'));
  const data = join(dir, 'data');
  if (account.uid !== undefined) chownSync(dir, account.uid, account.gid);
  const user = 'credit_risk';
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...account, encoding: 'utf8', cwd: dir },
  );
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`);
  const port = await freePort();
  // Test settings: loopback TCP only (no socket file), no fsync (the cluster is thrown away).
  const child = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ],
    { ...account, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const isReady = join(bin, 'pg_isready');
  try {
    await waitFor(
      'postgres',
      () => spawnSync(isReady, ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-q']).status === 0,
      { child },
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${stderr}`, { cause: e });
  }
  const created = spawnSync(
    join(bin, 'createdb'),
    ['-h', '127.0.0.1', '-p', String(port), '-U', user, 'creditrisk'],
    {
      encoding: 'utf8',
    },
  );
  if (created.status !== 0) throw new Error(`createdb failed: ${created.stderr}`);
  log(
    `postgres ${bin} on 127.0.0.1:${port} (data ${data}${account.uid !== undefined ? ', as postgres' : ''})`,
  );
  return {
    port,
    user,
    async stop() {
      // SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients.
      await stopChild(child, 'SIGINT', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startMoto(venvBin, log) {
  const server = venvBin ? join(venvBin, 'moto_server') : undefined;
  if (!server || !existsSync(server)) return { missing: 'moto (.venv-aws from requirements-aws.txt)' };
  const port = await freePort();
  // MOTO_PORT: the Step Functions interpreter calls Lambda, SNS, ... back through this server.
  const child = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('moto', async () => (await fetch(`${url}/moto-api/config`)).ok, { child });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${stderr}`, { cause: e });
  }
  // Run state machines for real (moto's ASL interpreter) and answer Lambda invokes without Docker.
  const config = await fetch(`${url}/moto-api/config`, {
    method: 'POST',
    body: JSON.stringify({ stepfunctions: { execute_state_machine: true }, lambda: { use_docker: false } }),
  });
  if (!config.ok) throw new Error(`moto config: HTTP ${config.status}`);
  log(`moto ${server} on ${url}`);
  return {
    port,
    url,
    stop: () => stopChild(child, 'SIGTERM', 5_000),
  };
}

/**
 * Where data-api-local comes from: the project's devDependency, or the directory named by
 * $CREDIT_RISK_DATA_API_LOCAL (a node_modules root with data-api-local in it). Its own dependency
 * pg 7 never finishes connecting on Node >= 14 (the request hangs), so the pg it resolves must be
 * 8 or newer: package.json `overrides` gives it one (docs/adr/0130).
 */
export function resolveDataApiLocal() {
  const base = process.env.CREDIT_RISK_DATA_API_LOCAL
    ? resolve(process.env.CREDIT_RISK_DATA_API_LOCAL, 'package.json')
    : join(root, 'package.json');
  const req = createRequire(base);
  let entry;
  try {
    entry = req.resolve('data-api-local');
  } catch {
    return { missing: 'data-api-local (a devDependency: npm ci)' };
  }
  const pgVersion = JSON.parse(readFileSync(createRequire(entry).resolve('pg/package.json'), 'utf8')).version;
  if (Number(pgVersion.split('.')[0]) < 8) {
    return {
      missing: `data-api-local with pg >= 8 (it resolves pg ${pgVersion}, which hangs on Node ${process.versions.node}: package.json needs "overrides": {"data-api-local": {"pg": "^8"}})`,
    };
  }
  return { entry };
}

/**
 * data-api-local runs in a child Node process of its own: when PostgreSQL stops under it, pg
 * emits errors on idle clients that would end whichever process holds them.
 */
async function startDataApi(pg, log) {
  const found = resolveDataApiLocal();
  if (found.missing) return found;
  const port = await freePort();
  const options = {
    server: { hostname: '127.0.0.1', port },
    database: {
      engine: 'postgresql',
      host: '127.0.0.1',
      port: pg.port,
      user: pg.user,
      password: 'unused',
      database: 'creditrisk',
    },
  };
  const code =
    `const m = await import(${JSON.stringify(pathToFileURL(found.entry).href)});` +
    `await (m.dataApiLocal ?? m.default.dataApiLocal)({ ...${JSON.stringify(options)}, logger: () => undefined });` +
    `process.on('SIGTERM', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    // Any HTTP answer means it listens (a GET is a 404 there).
    await waitFor('data-api-local', async () => (await fetch(url)).status > 0, { child });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${stderr}`, { cause: e });
  }
  log(`data-api-local on ${url} (PostgreSQL 127.0.0.1:${pg.port})`);
  return { port, url, stop: () => stopChild(child, 'SIGTERM', 5_000) };
}

async function stopChild(child, signal, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Starts every emulator. Returns {env, stop, missing, seconds}: `missing` lists the tools that are
 * not installed (nothing is started then); env holds what the AWS SDK and the tests read.
 */
export async function startEmulators({ venvBin, log = (l) => console.log(`[aws] ${l}`) } = {}) {
  const started = [];
  const stop = async () => {
    for (const s of started.reverse()) await s.stop().catch((e) => log(`stop failed: ${e.message}`));
    started.length = 0;
  };
  const t0 = Date.now();
  try {
    const missing = [];
    const [moto, pg] = await Promise.all([startMoto(venvBin, log), startPostgres(log)]);
    for (const s of [moto, pg])
      if (s.missing) missing.push(s.missing);
      else started.push(s);
    let dataApi = { missing: 'data-api-local (needs PostgreSQL)' };
    if (!pg.missing) {
      dataApi = await startDataApi(pg, log);
      if (dataApi.missing) missing.push(dataApi.missing);
      else started.push(dataApi);
    }
    if (missing.length > 0) {
      await stop();
      return { missing, stop, env: {}, seconds: 0 };
    }
    const env = {
      CREDIT_RISK_AWS_EMULATORS: '1',
      MOTO_PORT: String(moto.port),
      CREDIT_RISK_MOTO_URL: moto.url,
      CREDIT_RISK_DATA_API_URL: dataApi.url,
      // The SDK's own endpoint settings: every client goes to moto, the Data API to data-api-local.
      AWS_ENDPOINT_URL: moto.url,
      AWS_ENDPOINT_URL_RDS_DATA: dataApi.url,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    return { missing: [], stop, env, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    await stop();
    throw e;
  }
}
