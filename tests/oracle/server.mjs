// Start and stop `bron serve` for the oracle, load Synthea bundles into it and
// read every stored resource back.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
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

/**
 * Where the server keeps its store: a temporary data dir (SQLite), or with
 * BRON_TEST_STORE=postgres a new database in the test cluster BRON_PG_DIR
 * (tests/pg/cluster.sh). Returns { args, engine, remove() }.
 */
function makeStore(dataDir) {
  if (process.env.BRON_TEST_STORE !== 'postgres') {
    return { args: ['--data', dataDir], engine: 'sqlite', remove() {} };
  }
  const dir = process.env.BRON_PG_DIR;
  if (!dir || !fs.existsSync(path.join(dir, 'bindir'))) throw new Error(`BRON_TEST_STORE=postgres needs BRON_PG_DIR, a cluster made by tests/pg/cluster.sh start (got '${dir || ''}')`);
  const bin = fs.readFileSync(path.join(dir, 'bindir'), 'utf8').trim();
  const name = `bron_oracle_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const tool = (t, args) => spawnSync(path.join(bin, t), ['-h', dir, '-U', 'postgres', ...args], { encoding: 'utf8' });
  const r = tool('createdb', [name]);
  if (r.status !== 0) throw new Error(`createdb ${name} in ${dir} failed: ${r.stderr || r.error}`);
  return {
    args: ['--store', `postgresql:///${name}?host=${dir}&user=postgres`],
    engine: 'postgresql',
    remove() { tool('dropdb', ['--if-exists', name]); },
  };
}

/** Start bron; returns { base, engine, stop() -> {code, signal, stderr} }. */
export async function startBron(bin, cwd) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bron-oracle-'));
  const store = makeStore(dataDir);
  const port = await freePort();
  // encrypted at rest, as a real store (SQLite: every page; PostgreSQL: the
  // bodies), with a key file apart from the data dir
  const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bron-oracle-key-'));
  const keyFile = path.join(keyDir, 'data.key');
  fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // the oracle compares search results: no access checks (--open, loopback)
  const argv = ['serve', '--bind', '127.0.0.1', '--port', String(port), '--open', '--key-file', keyFile, ...store.args];
  const proc = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 1e6) stderr = stderr.slice(-5e5); });
  let exitInfo = null;
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); }));
  process.on('exit', () => { if (!exitInfo) try { proc.kill('SIGKILL'); } catch { /* gone */ } });
  const base = `http://127.0.0.1:${port}/fhir`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exitInfo) throw new Error(`bron exited (${JSON.stringify(exitInfo)}) before answering\n${stderr.slice(-3000)}`);
    try {
      const r = await fetch(`${base}/metadata`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`bron did not answer /metadata\n${stderr.slice(-3000)}`); }
    await sleep(50);
  }
  return {
    base,
    engine: store.engine,
    async stop() {
      if (!exitInfo) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 60000);
      const e = await exited;
      clearTimeout(t);
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(keyDir, { recursive: true, force: true });
      store.remove();
      return { ...e, stderr };
    },
  };
}

/** The Synthea bundle files to load: the first n by name (deterministic). */
export function syntheaFiles(dir, n) {
  return fs.readdirSync(dir).filter((f) => /^patient-.*\.json\.gz$/.test(f)).sort().slice(0, n)
    .map((f) => path.join(dir, f));
}

export async function loadBundle(base, file) {
  const body = zlib.gunzipSync(fs.readFileSync(file));
  const r = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`POST transaction ${path.basename(file)}: ${r.status} ${text.slice(0, 2000)}`);
  return JSON.parse(text);
}

/** GET a search (path+query relative to base) and follow next links; returns the match entries' resources. */
export async function searchAll(base, rel, { limitPages = 1000 } = {}) {
  let url = `${base}/${rel}`;
  const out = [];
  const seen = new Set();
  for (let page = 0; url; page++) {
    if (page >= limitPages) throw new Error(`more than ${limitPages} pages for ${rel}`);
    if (seen.has(url)) throw new Error(`next link loops for ${rel}: ${url}`);
    seen.add(url);
    const r = await fetch(url, { headers: { accept: 'application/fhir+json' } });
    const text = await r.text();
    if (r.status !== 200) {
      const err = new Error(`HTTP ${r.status} for ${rel}: ${text.slice(0, 600)}`);
      err.status = r.status;
      throw err;
    }
    const b = JSON.parse(text);
    for (const e of b.entry || []) {
      if (e.search && e.search.mode && e.search.mode !== 'match') continue;
      if (e.resource && e.resource.resourceType !== 'OperationOutcome') out.push(e.resource);
    }
    const next = (b.link || []).find((l) => l.relation === 'next');
    url = next ? next.url : null;
    if (url && !/^https?:/.test(url)) url = new URL(url, `${base}/`).toString();
  }
  return out;
}

/** Everything stored, by type: type-level searches with _count=1000. */
export async function readAll(base, types) {
  const byType = {};
  for (const t of types) byType[t] = await searchAll(base, `${t}?_count=1000`);
  return byType;
}
