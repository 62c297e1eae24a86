// Start and stop a real `bron serve` for the API tests, and talk raw HTTP to it.
//
// startServer() picks a free loopback port, makes a temporary data dir under
// tests/api/.tmp/, spawns `$BRON_BIN serve --bind 127.0.0.1 --port N --data DIR`
// (`--store URL` in PostgreSQL mode, below)
// (plus the caller's extra flags) and waits until GET /fhir/metadata answers.
// stop() sends SIGTERM (or another signal), waits for the exit and asserts a
// clean one: exit code 0 and no AddressSanitizer/LeakSanitizer/UBSan report on
// stderr, so a sanitizer finding fails the test file that provoked it.
//
// PostgreSQL mode (issue 6): with BRON_TEST_STORE=postgres and BRON_PG_DIR set
// to a running tests/pg/cluster.sh cluster (tests/run.sh does both), every
// data dir stands for a database of its own in that cluster: storeArgs(dir)
// gives ['--store', URL] instead of ['--data', dir], creating the database the
// first time (its URL is kept in DIR/.pg-store, so a restart on the same dir
// reuses it). startServer() uses storeArgs, so every test runs on either engine.
//
// Encryption at rest (issue 8): every bron this test process starts gets the
// owner's key of testDataKey() through BRON_KEY_FILE, set here before any is
// spawned, so the whole suite runs on encrypted stores (SQLite: every page;
// PostgreSQL: the bodies). A test of an unencrypted store passes
// --unencrypted, which wins over the environment.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));
export const API_DIR = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(API_DIR, '../..');
export const BRON_BIN = path.resolve(REPO_ROOT, process.env.BRON_BIN || './bron');
export const BRON_SHARED = path.resolve(REPO_ROOT, process.env.BRON_SHARED || '../shared');
export const EXAMPLES_DIR = path.join(BRON_SHARED, 'data/fhir-r4/examples');

/**
 * The owner's key of the stores of this test process: a key file (64 hex
 * digits, mode 0600) under tests/api/.tmp/, apart from every data dir,
 * removed at exit. Returns its path.
 */
let dataKey = null;
export function testDataKey() {
  if (dataKey) return dataKey;
  const dir = path.join(API_DIR, '.tmp', `datakey-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  dataKey = path.join(dir, 'data.key');
  fs.writeFileSync(dataKey, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dataKey;
}
process.env.BRON_KEY_FILE = testDataKey();
delete process.env.BRON_KEY;

export const PG_MODE = process.env.BRON_TEST_STORE === 'postgres';
export const PG_DIR = process.env.BRON_PG_DIR || '';
if (PG_MODE && !(PG_DIR && fs.existsSync(path.join(PG_DIR, 'bindir')))) {
  throw new Error(`BRON_TEST_STORE=postgres needs BRON_PG_DIR, a cluster made by tests/pg/cluster.sh start (got '${PG_DIR}')`);
}
const PG_BINDIR = PG_MODE ? fs.readFileSync(path.join(PG_DIR, 'bindir'), 'utf8').trim() : '';
const PG_STORE_FILE = '.pg-store';

/** The libpq URI of database `name` in the test cluster. */
export function pgUrl(name) {
  return `postgresql:///${name}?host=${PG_DIR}&user=postgres`;
}

/** Run a PostgreSQL client tool of the test cluster (createdb, dropdb, psql...) to completion. */
export function pgTool(tool, args) {
  const r = spawnSync(path.join(PG_BINDIR, tool), ['-h', PG_DIR, '-U', 'postgres', ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`${tool}: ${r.error.message}`);
  return r;
}

/** Run SQL on database `name` of the test cluster; returns psql's unaligned output (throws on error). */
export function pgSql(name, sql) {
  const r = pgTool('psql', ['-d', name, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  if (r.status !== 0) throw new Error(`psql ${name}: ${sql}\n${r.stderr}`);
  return r.stdout.trim();
}

/** A new empty database in the test cluster, named after `hint`; returns its name. */
export function pgCreateDb(hint) {
  let name = `bron_${String(hint).toLowerCase().replace(/[^a-z0-9_]+/g, '_')}`.slice(0, 50);
  name += `_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const r = pgTool('createdb', [name]);
  if (r.status !== 0) throw new Error(`createdb ${name} failed (is the cluster in ${PG_DIR} running?)\n${r.stderr}`);
  return name;
}

/**
 * The flags that point a bron command at the store of `dataDir`: ['--data', dir]
 * on SQLite; in PostgreSQL mode ['--store', URL] of the database that stands
 * for dir (created the first time and remembered in dir/.pg-store).
 */
export function storeArgs(dataDir) {
  if (!PG_MODE) return ['--data', dataDir];
  return ['--store', storeUrl(dataDir)];
}

/** PostgreSQL mode: the URL of the database that stands for dataDir (made on first use). */
export function storeUrl(dataDir) {
  const file = path.join(dataDir, PG_STORE_FILE);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  fs.mkdirSync(dataDir, { recursive: true });
  const url = pgUrl(pgCreateDb(path.basename(dataDir)));
  fs.writeFileSync(file, `${url}\n`);
  return url;
}

/** PostgreSQL mode: the database name of a store URL made by storeUrl(). */
export function pgDbName(url) {
  return new URL(url).pathname.slice(1);
}

/** Drop the database that stands for dataDir, if one was made (PostgreSQL mode). */
export function dropStore(dataDir) {
  const file = path.join(dataDir, PG_STORE_FILE);
  if (!PG_MODE || !fs.existsSync(file)) return;
  const name = pgDbName(fs.readFileSync(file, 'utf8').trim());
  pgTool('dropdb', ['--if-exists', '--force', name]);
}

const READY_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 30000;
const SANITIZER_RE = /ERROR: AddressSanitizer|LeakSanitizer|runtime error:/;

const live = new Set(); // servers still running, killed if the test process dies
process.on('exit', () => {
  for (const s of live) {
    try { s.proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A new empty directory under tests/api/.tmp/ (git-ignored). */
export function tempDir(prefix = 'data-') {
  const root = path.join(API_DIR, '.tmp');
  fs.mkdirSync(root, { recursive: true });
  return fs.mkdtempSync(path.join(root, prefix));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `bron serve`. Options:
 *   args    extra command-line flags, e.g. ['--max-body', '1000']
 *   dataDir reuse a data dir (restart tests); default a fresh temporary one
 *   port    reuse a port; default a free one
 *   store   false: pass no --data/--store at all (args or a --config give it)
 *   tls     { ca, cert, key } (PEM strings, as node's tls options): the server
 *           serves HTTPS (args give --tls-*); readiness and server.request go
 *           over HTTPS with these
 * Returns a handle: { port, origin, base, dataDir, proc, stderr(), stop(), ... }.
 */
export async function startServer({ args = [], dataDir, port, store = true, tls } = {}) {
  if (!fs.existsSync(BRON_BIN)) {
    throw new Error(`bron binary not found at ${BRON_BIN} (set BRON_BIN or run make)`);
  }
  // access (issue 7): every server checks bearer tokens against the test
  // keys, and every request of the harness carries TEST_TOKEN, unless the
  // caller asks for --open or gives its own --jwks
  const auth = !args.includes('--open') && !args.some((a) => a === '--jwks' || a.startsWith('--jwks='));
  if (auth) args = ['--jwks', testKeys().jwks, ...args];
  const ownsDir = !dataDir;
  dataDir = dataDir || tempDir();
  port = port || (await freePort());
  const argv = ['serve', '--bind', '127.0.0.1', '--port', String(port), ...(store ? storeArgs(dataDir) : []), ...args];
  const proc = spawn(BRON_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.on('data', (d) => { stdout += d; });
  let spawnError = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.on('error', (e) => { spawnError = e; resolve({ code: null, signal: null, error: e }); });
  });
  let exitInfo = null;
  exited.then((e) => { exitInfo = e; });

  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const server = {
    port,
    origin,
    base: `${origin}/fhir`,
    dataDir,
    proc,
    argv,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    stopped: false,
    /** Exit status if the process has already ended, else null. */
    exitInfo: () => exitInfo,
    /**
     * Send `signal` (null: none, the caller already did), wait for the exit,
     * assert exit code 0 and no sanitizer report. Idempotent. Removes the
     * data dir it made unless keepData.
     */
    async stop({ signal = 'SIGTERM', keepData = false } = {}) {
      if (server.stopped) return server.result;
      server.stopped = true;
      live.delete(server);
      if (!exitInfo && signal) proc.kill(signal);
      let timer;
      const timeout = new Promise((r) => { timer = setTimeout(() => r(null), STOP_TIMEOUT_MS); });
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (!result) {
        proc.kill('SIGKILL');
        await exited;
        if (ownsDir && !keepData) removeStore(dataDir);
        assert.fail(`bron did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}\n--- stderr ---\n${tail(stderr)}`);
      }
      server.result = result;
      if (ownsDir && !keepData) removeStore(dataDir);
      assertCleanStderr(stderr);
      assert.equal(result.signal, null, `bron was killed by ${result.signal}\n--- stderr ---\n${tail(stderr)}`);
      assert.equal(result.code, 0, `bron exited with code ${result.code} after ${signal}\n--- stderr ---\n${tail(stderr)}`);
      return result;
    },
    /** SIGKILL (a crash): wait for the end, check stderr, keep the data dir. */
    async crash() {
      server.stopped = true;
      live.delete(server);
      if (!exitInfo) proc.kill('SIGKILL');
      await exited;
      assertCleanStderr(stderr);
    },
    /** The bearer token the harness sends (null for an --open server). */
    token: auth ? testToken() : null,
    /**
     * Raw HTTP request to this server, path relative to the origin ('/fhir/...').
     * Carries the server's token unless opts.headers has an Authorization
     * header (any case) or opts.noToken.
     */
    request(method, urlPath, opts = {}) {
      const headers = { ...(opts.headers || {}) };
      const has = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
      if (server.token && !has && !opts.noToken) headers.authorization = `Bearer ${server.token}`;
      const o = { ...opts, headers };
      return tls ? requestTls(port, tls, method, urlPath, o) : request(port, method, urlPath, o);
    },
  };
  live.add(server);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) {
      live.delete(server);
      server.stopped = true;
      if (ownsDir) removeStore(dataDir);
      throw new Error(`cannot start ${BRON_BIN}: ${spawnError.message}`);
    }
    if (exitInfo) {
      live.delete(server);
      server.stopped = true;
      if (ownsDir) removeStore(dataDir);
      throw new Error(`bron exited (code ${exitInfo.code}, signal ${exitInfo.signal}) before answering: ${argv.join(' ')}\n--- stderr ---\n${tail(stderr)}`);
    }
    try {
      const res = await server.request('GET', '/fhir/metadata', { timeout: 2000 });
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      live.delete(server);
      server.stopped = true;
      await exited;
      if (ownsDir) removeStore(dataDir);
      throw new Error(`bron did not answer GET /fhir/metadata within ${READY_TIMEOUT_MS} ms\n--- stderr ---\n${tail(stderr)}`);
    }
    await sleep(50);
  }
  return server;
}

/** Run bron to completion (killed after timeoutMs); { code, signal, stdout, stderr }. */
export function runBron(args, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const p = spawn(BRON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

// --- bearer tokens (issue 7) ------------------------------------------------

let keys = null;
/** The test key pair, made once per test process with `bron keygen`: { dir, jwks, key }. */
export function testKeys() {
  if (keys) return keys;
  const dir = path.join(API_DIR, '.tmp', `keys-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const r = spawnSync(BRON_BIN, ['keygen', '--dir', dir], { encoding: 'utf8', cwd: REPO_ROOT });
  if (r.status !== 0) throw new Error(`bron keygen failed: ${r.stderr}`);
  keys = { dir, jwks: path.join(dir, 'jwks.json'), key: path.join(dir, 'signing-key.pem') };
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return keys;
}

/**
 * A token signed with the test key. claims: { sub, scope, patient, org,
 * purpose, act, iss, aud, ttl } (bron token's flags).
 */
export function mintToken({ sub = 'test', scope = 'system/*.cruds', patient, org, purpose, act, iss, aud, ttl = 86400 } = {}) {
  const k = testKeys();
  const argv = ['token', '--key', k.key, '--sub', sub, '--scope', scope, '--ttl', String(ttl)];
  for (const [flag, v] of [['--patient', patient], ['--org', org], ['--purpose', purpose], ['--act', act], ['--iss', iss], ['--aud', aud]]) {
    if (v !== undefined) argv.push(flag, String(v));
  }
  const r = spawnSync(BRON_BIN, argv, { encoding: 'utf8', cwd: REPO_ROOT });
  if (r.status !== 0) throw new Error(`bron token failed: ${r.stderr}`);
  return r.stdout.trim();
}

let token = null;
/** The harness's default token: system/*.cruds (everything). */
export function testToken() {
  if (!token) token = mintToken();
  return token;
}

/** Remove a data dir and, in PostgreSQL mode, the database that stands for it. */
export function removeStore(dataDir) {
  try { dropStore(dataDir); } catch { /* the cluster is thrown away at the end anyway */ }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

export function assertCleanStderr(stderr) {
  const m = SANITIZER_RE.exec(stderr);
  if (m) {
    const at = Math.max(0, m.index - 200);
    assert.fail(`sanitizer report on bron's stderr:\n${stderr.slice(at, at + 4000)}`);
  }
}

function tail(s, n = 3000) {
  return s.length > n ? `...${s.slice(-n)}` : s;
}

/**
 * One raw HTTP/1.1 request on its own connection. Resolves to
 * { status, headers (lower-case names), text, json (parsed or undefined), bytes }.
 * opts: { headers, body (string|Buffer|Array of chunks for chunked), timeout }.
 * A response that arrives before the server stops reading the body is still
 * returned (the write error is ignored then).
 */
export function request(port, method, urlPath, opts) {
  return send(http, { host: '127.0.0.1', port }, method, urlPath, opts);
}

/** request() over HTTPS; tls: node tls options ({ ca, cert, key, minVersion, ... }). */
export function requestTls(port, tls, method, urlPath, opts) {
  return send(https, { host: '127.0.0.1', port, ...tls }, method, urlPath, opts);
}

function send(mod, target, method, urlPath, { headers = {}, body, timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = mod.request({ ...target, method, path: urlPath, headers, agent: false });
    let responded = false;
    let settled = false;
    const done = (fn, v) => { if (!settled) { settled = true; fn(v); } };
    req.setTimeout(timeout, () => {
      req.destroy(new Error(`no response within ${timeout} ms: ${method} ${urlPath.length > 120 ? `${urlPath.slice(0, 120)}... (${urlPath.length} chars)` : urlPath}`));
    });
    req.on('response', (res) => {
      responded = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => done(reject, e));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        done(resolve, { status: res.statusCode, headers: res.headers, text, json, bytes });
      });
    });
    req.on('error', (e) => {
      // EPIPE/ECONNRESET while still sending a body the server refused:
      // wait briefly for the response that may already be on its way.
      if (responded) return;
      setTimeout(() => done(reject, e), 200);
    });
    if (Array.isArray(body)) {
      for (const c of body) req.write(c);
      req.end();
    } else if (body !== undefined) {
      req.end(body);
    } else {
      req.end();
    }
  });
}

/** Run fn over items with at most `limit` in flight; results in input order. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export { sleep };

/**
 * Raw TCP exchange for HTTP framing tests: connect, write `data`, and collect
 * what comes back until the server closes, `done(text)` is true, or
 * `timeout` ms pass. `onData(text, socket)` may write more. Resolves to the text.
 */
export function rawExchange(port, data, { done = () => false, onData, timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(text);
    };
    const timer = setTimeout(finish, timeout);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (onData) onData(text, sock);
      if (done(text)) finish();
    });
    sock.on('error', finish);
    sock.on('close', finish);
  });
}

/** Status codes of the HTTP responses in a raw byte stream, in order. */
export function rawStatuses(text) {
  return [...text.matchAll(/HTTP\/1\.[01] ([0-9]{3}) /g)].map((m) => Number(m[1]));
}
