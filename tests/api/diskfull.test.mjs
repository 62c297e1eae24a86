// Disk full and I/O errors (issue 10, robustness, item 2): with the store's
// space running out, every write that does not fit is refused with 507 (or
// 503) and an OperationOutcome, nothing of a refused write is stored, every
// acknowledged write reads back exactly, reads and searches keep answering,
// the server neither exits nor needs a restart: once space returns, writes
// succeed again. Afterwards the store is intact (a clean stop, `bron audit
// verify`, a restart that reads everything back).
//
// How the space runs out (the tests run as root here and in CI):
//   SQLite      the data directory is a small tmpfs (the owner's key file
//               stays outside it); space returns by `mount -o remount,size=`.
//   PostgreSQL  the test's database lives in a tablespace on a small tmpfs
//               owned by the cluster's OS user (tests/pg/cluster.sh); the
//               server answers SQLSTATE 53100 disk_full, Bron 507.
// Without the right to mount (not root) the same checks run on a file-size
// limit instead (RLIMIT_FSIZE through prlimit, which needs no privilege for
// one's own processes): on the bron process (SQLite; bron serve ignores
// SIGXFSZ, so writes fail with EFBIG, which the store reads as no space), or
// on the PostgreSQL postmaster and the test database's backends. That is a
// fallback, not a skip. BRON_DISKFULL_MODE=tmpfs|rlimit forces one of them.
//
// Every mount is undone in an after() hook and at process exit, also when a
// check fails.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PG_DIR, PG_MODE, pgSql, pgTool, pgUrl, runBron, startServer, storeArgs, tempDir } from './lib/server.mjs';
import { send, withoutServerMeta } from './lib/fhir.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

// ---- mounts, undone whatever happens -----------------------------------------

const mounts = []; // mount points, innermost last
const cleanups = []; // functions run before the mounts go (drop the tablespace)

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return { status: -1, stdout: '', stderr: r.error.message };
  return r;
}

function mountTmpfs(dir, bytes, extra = '') {
  const r = sh('mount', ['-t', 'tmpfs', '-o', `size=${bytes}${extra}`, 'tmpfs', dir]);
  if (r.status !== 0) throw new Error(`mount -t tmpfs on ${dir}: ${r.stderr}`);
  mounts.push(dir);
}

function resizeTmpfs(dir, bytes) {
  const r = sh('mount', ['-o', `remount,size=${bytes}`, dir]);
  assert.equal(r.status, 0, `mount -o remount,size=${bytes} ${dir}: ${r.stderr}`);
}

function undoMounts() {
  while (cleanups.length) {
    try { cleanups.pop()(); } catch { /* best effort: the mounts must still go */ }
  }
  while (mounts.length) {
    const dir = mounts.pop();
    if (sh('umount', [dir]).status !== 0) sh('umount', ['-l', dir]);
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* gone already */ }
  }
}
process.on('exit', undoMounts);
after(undoMounts);

/** tmpfs when we may mount (root), else the file-size limit; BRON_DISKFULL_MODE forces one. */
function spaceMode() {
  const forced = process.env.BRON_DISKFULL_MODE;
  if (forced === 'tmpfs' || forced === 'rlimit') return forced;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bron-mnt-try-'));
  const r = sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (r.status === 0) sh('umount', [dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  return r.status === 0 ? 'tmpfs' : 'rlimit';
}

/** Set the file-size limit of process pid (as `user`, the process's owner, when given). */
function prlimit(pid, spec, user) {
  const args = ['--pid', String(pid), `--fsize=${spec}`];
  const r = user ? sh('runuser', ['-u', user, '--', 'prlimit', ...args]) : sh('prlimit', args);
  assert.equal(r.status, 0, `prlimit --pid ${pid} --fsize=${spec}: ${r.stderr}`);
}

function largestFile(dir) {
  let max = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) max = Math.max(max, largestFile(p));
    else if (e.isFile()) max = Math.max(max, fs.statSync(p).size);
  }
  return max;
}

// ---- the store, and how its space runs out and returns -------------------------

/**
 * A data dir (SQLite) or a database (PostgreSQL, remembered in dir/.pg-store
 * as lib/server.mjs does) whose space can be made scarce: { dataDir, mode,
 * squeeze(srv) once the server runs, again(srv) for a new server on the
 * full store, grow(srv) to give space back }.
 */
function makeStore(mode) {
  if (!PG_MODE) {
    const dataDir = tempDir('diskfull-');
    if (mode === 'tmpfs') {
      // 6 MiB: past SQLite's auto-checkpoint (1000 pages of WAL), so the
      // checkpoint into the database file runs out of space too
      mountTmpfs(dataDir, 6 * MB);
      return {
        dataDir,
        mode,
        squeeze() {},
        again() {},
        grow() { resizeTmpfs(dataDir, 64 * MB); },
      };
    }
    return {
      dataDir,
      mode,
      squeeze(srv) { prlimit(srv.proc.pid, `${largestFile(dataDir) + 2 * MB}:`); },
      // a new server on the full store: its files may not grow at all
      again(srv) { prlimit(srv.proc.pid, `${largestFile(dataDir)}:`); },
      grow(srv) { prlimit(srv.proc.pid, 'unlimited:'); },
    };
  }
  const dataDir = tempDir('diskfull-pg-');
  const name = pgCreateDbName();
  if (mode === 'tmpfs') {
    // the tablespace directory: outside the repository (the cluster's user
    // must reach it), a tmpfs owned by that user, mode 0700
    const loc = fs.mkdtempSync('/tmp/bron-diskfull-ts-');
    const owner = fs.statSync(path.join(PG_DIR, 'data'));
    mountTmpfs(loc, 64 * MB, `,uid=${owner.uid},gid=${owner.gid},mode=0700`);
    const ts = `${name}_ts`;
    pgSql('postgres', `CREATE TABLESPACE ${ts} LOCATION '${loc}'`);
    cleanups.push(() => pgSql('postgres', `DROP TABLESPACE IF EXISTS ${ts}`));
    cleanups.push(() => pgTool('dropdb', ['--if-exists', '--force', name]));
    pgSql('postgres', `CREATE DATABASE ${name} TABLESPACE ${ts}`);
    fs.writeFileSync(path.join(dataDir, '.pg-store'), `${pgUrl(name)}\n`);
    return {
      dataDir,
      mode,
      // once the server made its schema: what is used now and 2 MiB more
      squeeze() {
        const used = spaceUsed(loc);
        resizeTmpfs(loc, used + 2 * MB);
      },
      again() {},
      grow() { resizeTmpfs(loc, 64 * MB); },
    };
  }
  // no mount: a file-size limit on the postmaster (for the backends it
  // starts later) and on this database's backends. Above a WAL segment
  // (16 MiB, which the limit must not cut) and half a block (8 KiB) past a
  // block boundary, so that the extension of a relation that crosses it is
  // a short write, which PostgreSQL reports as 53100 disk_full.
  pgTool('createdb', [name]);
  cleanups.push(() => pgTool('dropdb', ['--if-exists', '--force', name]));
  fs.writeFileSync(path.join(dataDir, '.pg-store'), `${pgUrl(name)}\n`);
  const postmaster = Number(fs.readFileSync(path.join(PG_DIR, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const backends = () => pgSql('postgres', `SELECT pid FROM pg_stat_activity WHERE datname = '${name}'`).split('\n').filter(Boolean);
  // as root, the cluster runs as its own user (tests/pg/cluster.sh): set its
  // processes' limits as that user
  const uid = fs.statSync(path.join(PG_DIR, 'data')).uid;
  const user = process.getuid() === 0 && uid !== 0 ? sh('id', ['-nu', String(uid)]).stdout.trim() : null;
  const limitAll = (spec) => { for (const pid of [postmaster, ...backends()]) prlimit(pid, spec, user); };
  cleanups.push(() => prlimit(postmaster, 'unlimited:', user));
  return {
    dataDir,
    mode,
    squeeze() {
      const oid = pgSql('postgres', `SELECT oid FROM pg_database WHERE datname = '${name}'`);
      const largest = largestFile(path.join(PG_DIR, 'data', 'base', oid));
      const limit = Math.ceil((Math.max(largest, 16 * MB) + 4 * MB) / 8192) * 8192 + 4096;
      limitAll(`${limit}:`);
    },
    again() {}, // the postmaster keeps its limit, new backends inherit it
    grow() { limitAll('unlimited:'); },
  };
}

function pgCreateDbName() {
  // a name only: the database is made in the tablespace, or by createdb
  return `bron_diskfull_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
}

function spaceUsed(dir) {
  const r = sh('df', ['-B1', '--output=used', dir]);
  assert.equal(r.status, 0, `df ${dir}: ${r.stderr}`);
  return Number(r.stdout.trim().split('\n').pop());
}

// ---- what the store holds: every acknowledged write, and what it must not hold --

/** id -> the Patient as last acknowledged, or null once a delete was. */
const model = new Map();
const absent = new Set(); // ids of refused creates: must not exist

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');

function patient(id, bytes = 2048) {
  return {
    resourceType: 'Patient',
    id,
    active: true,
    identifier: [{ system: 'urn:bron:diskfull', value: id }],
    name: [{ family: `F${hex(bytes)}` }],
  };
}

let refusals = 0;
const seen = { 507: 0, 503: 0 };

/** A response that must be an acknowledgement (2xx) or a refusal for lack of space. */
function outcome(res, what) {
  if (res.status >= 200 && res.status < 300) return 'ok';
  assertRefusal(res, what);
  return 'refused';
}

function assertRefusal(res, what) {
  assert.ok(res.status === 507 || res.status === 503,
    `${what}: a write the store has no space for must be 507 (or 503), got ${res.status}: ${res.text.slice(0, 400)}`);
  assertRefusalOutcome(res.json, res.status, what);
  assert.match(res.headers['retry-after'] || '', /^[0-9]+$/, `${what}: a ${res.status} carries Retry-After`);
  refusals++;
  seen[res.status]++;
}

function assertRefusalOutcome(oo, status, what) {
  assert.equal(oo?.resourceType, 'OperationOutcome', `${what}: the refusal's body is an OperationOutcome`);
  const issue = oo.issue?.[0];
  assert.equal(issue?.severity, 'error', `${what}: severity error`);
  assert.equal(issue?.code, status === 507 ? 'no-store' : 'transient', `${what}: issue code`);
  assert.ok((issue?.diagnostics || '').length > 10, `${what}: the outcome says what happened`);
}

/** A status text of a Bundle entry ("507 Insufficient Storage") as a number. */
const entryStatus = (e) => Number(String(e?.response?.status || '').split(' ')[0]);

async function put(srv, body) {
  const res = await send(srv, 'PUT', `/fhir/Patient/${body.id}`, body);
  if (outcome(res, `PUT Patient/${body.id}`) === 'ok') model.set(body.id, body);
  else if (!model.has(body.id)) absent.add(body.id);
  return res;
}

let serial = 0;
const nextId = (p = 'df') => `${p}-${++serial}`;

/** Write new Patients, `workers` at a time, until `streak` writes in a row were refused. */
async function fillUntilRefused(srv, { streak = 4, workers = 4, limit = 20000, bytes = 2048 } = {}) {
  let inARow = 0;
  let written = 0;
  let tries = 0;
  const one = async () => {
    while (inARow < streak && tries < limit) {
      tries++;
      const res = await put(srv, patient(nextId(), bytes));
      if (res.status >= 200 && res.status < 300) { inARow = 0; written++; } else inARow++;
    }
  };
  await Promise.all(Array.from({ length: workers }, one));
  assert.ok(inARow >= streak, `the store never ran out of space after ${tries} writes (${written} stored)`);
  return written;
}

/** Every acknowledged write reads back exactly; refused creates do not exist. */
async function verifyAll(srv, what) {
  const ids = [...model.keys()];
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(ids.slice(i, i + 16).map(async (id) => {
      const res = await send(srv, 'GET', `/fhir/Patient/${id}`);
      const want = model.get(id);
      if (want === null) {
        assert.equal(res.status, 410, `${what}: Patient/${id} was deleted (acknowledged), got ${res.status}`);
        return;
      }
      assert.equal(res.status, 200, `${what}: acknowledged Patient/${id} must read back, got ${res.status}: ${res.text.slice(0, 300)}`);
      assert.deepEqual(withoutServerMeta(res.json), want, `${what}: Patient/${id} reads back exactly as acknowledged`);
    }));
  }
  for (const id of absent) {
    const res = await send(srv, 'GET', `/fhir/Patient/${id}`);
    assert.equal(res.status, 404, `${what}: refused Patient/${id} must not exist, got ${res.status}`);
  }
}

/** Reads and searches answer 200 while writes are refused. */
async function readsWork(srv, what) {
  const ids = [...model.keys()].filter((id) => model.get(id)).slice(-20);
  for (const id of ids) {
    const res = await send(srv, 'GET', `/fhir/Patient/${id}`);
    assert.equal(res.status, 200, `${what}: GET Patient/${id} while the disk is full: ${res.status} ${res.text.slice(0, 300)}`);
    assert.deepEqual(withoutServerMeta(res.json), model.get(id));
  }
  const search = await send(srv, 'GET', `/fhir/Patient?identifier=urn:bron:diskfull|${ids[0]}`);
  assert.equal(search.status, 200, `${what}: search while the disk is full: ${search.status} ${search.text.slice(0, 300)}`);
  assert.equal(search.json.entry?.length, 1, `${what}: the search finds the one Patient`);
  const page = await send(srv, 'GET', '/fhir/Patient?_count=5&_sort=-_lastUpdated');
  assert.equal(page.status, 200, `${what}: sorted search while the disk is full: ${page.status}`);
  const hist = await send(srv, 'GET', `/fhir/Patient/${ids[0]}/_history`);
  assert.equal(hist.status, 200, `${what}: history while the disk is full: ${hist.status}`);
  assert.equal(srv.exitInfo(), null, `${what}: bron is still running`);
}

/** Every kind of write, once, while the store is full: each is stored whole or refused whole. */
async function everyWriteKind(srv) {
  const kinds = {};
  const note = (kind, r) => { kinds[kind] = r; };
  const big = 64 * 1024; // more than the few pages a refused write may leave free

  // create with a server-assigned id
  const body = patient('ignored', big);
  delete body.id;
  let res = await send(srv, 'POST', '/fhir/Patient', body);
  if (outcome(res, 'POST Patient') === 'ok') {
    const id = res.json.id;
    model.set(id, { ...body, id });
    note('create', 'ok');
  } else note('create', 'refused');

  // update of an acknowledged resource: refused leaves the old version
  const someId = [...model.keys()].find((id) => model.get(id));
  res = await put(srv, patient(someId, big));
  note('update', res.status < 300 ? 'ok' : 'refused');

  // patch
  const patchId = [...model.keys()].reverse().find((id) => model.get(id) && id !== someId);
  const family = `P${hex(big)}`;
  res = await send(srv, 'PATCH', `/fhir/Patient/${patchId}`,
    JSON.stringify([{ op: 'replace', path: '/name/0/family', value: family }]),
    { 'content-type': 'application/json-patch+json' });
  if (outcome(res, `PATCH Patient/${patchId}`) === 'ok') {
    const p = structuredClone(model.get(patchId));
    p.name[0].family = family;
    model.set(patchId, p);
    note('patch', 'ok');
  } else note('patch', 'refused');

  // conditional create and conditional update (new identifiers: they create)
  const cc = patient(nextId('cc'), big);
  res = await send(srv, 'POST', '/fhir/Patient', { ...cc, id: undefined },
    { 'if-none-exist': `identifier=urn:bron:diskfull|${cc.id}` });
  if (outcome(res, 'conditional create') === 'ok') {
    model.set(res.json.id, { ...cc, id: res.json.id });
    note('conditional create', 'ok');
  } else note('conditional create', 'refused');
  const cu = patient(nextId('cu'), big);
  res = await send(srv, 'PUT', `/fhir/Patient?identifier=urn:bron:diskfull|${cu.id}`, cu);
  if (outcome(res, 'conditional update') === 'ok') {
    model.set(cu.id, cu);
    note('conditional update', 'ok');
  } else {
    absent.add(cu.id);
    note('conditional update', 'refused');
  }

  // delete (small: it may fit; either way it is whole)
  const delId = [...model.keys()].find((id) => model.get(id) && id !== someId && id !== patchId);
  res = await send(srv, 'DELETE', `/fhir/Patient/${delId}`);
  if (outcome(res, `DELETE Patient/${delId}`) === 'ok') {
    model.set(delId, null);
    note('delete', 'ok');
  } else note('delete', 'refused');

  // batch: each entry stored or refused on its own, a refusal carrying the 507 outcome
  const batch = Array.from({ length: 4 }, () => patient(nextId('b'), big));
  res = await send(srv, 'POST', '/fhir', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: batch.map((r) => ({ resource: r, request: { method: 'PUT', url: `Patient/${r.id}` } })),
  });
  assert.equal(res.status, 200, `a batch answers 200 with each entry's outcome: ${res.status} ${res.text.slice(0, 300)}`);
  res.json.entry.forEach((e, i) => {
    const st = entryStatus(e);
    if (st === 201 || st === 200) model.set(batch[i].id, batch[i]);
    else {
      assert.ok(st === 507 || st === 503, `batch entry ${i}: ${e.response?.status}`);
      assertRefusalOutcome(e.response.outcome, st, `batch entry ${i}`);
      absent.add(batch[i].id);
      refusals++;
    }
  });
  note('batch', res.json.entry.map(entryStatus).join(','));

  // $import (a batch of the lines): likewise
  const lines = Array.from({ length: 3 }, () => patient(nextId('imp'), big));
  res = await send(srv, 'POST', '/fhir/$import', lines.map((l) => JSON.stringify(l)).join('\n'),
    { 'content-type': 'application/fhir+ndjson' });
  if (res.status === 200) {
    res.json.entry.forEach((e, i) => {
      const st = entryStatus(e);
      if (st === 201 || st === 200) model.set(lines[i].id, lines[i]);
      else {
        assert.ok(st === 507 || st === 503, `$import line ${i}: ${e.response?.status}`);
        assertRefusalOutcome(e.response.outcome, st, `$import line ${i}`);
        absent.add(lines[i].id);
        refusals++;
      }
    });
    note('$import', res.json.entry.map(entryStatus).join(','));
  } else {
    assertRefusal(res, '$import');
    for (const l of lines) absent.add(l.id);
    note('$import', String(res.status));
  }
  return kinds;
}

/** A transaction too large for the space left: 507, and none of it stored. */
async function refusedTransaction(srv) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const entries = Array.from({ length: 24 }, () => patient(nextId('tx'), 8192));
    const res = await send(srv, 'POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: entries.map((r) => ({ resource: r, request: { method: 'PUT', url: `Patient/${r.id}` } })),
    });
    if (res.status === 200) {
      // it fitted after all (a checkpoint freed WAL space): stored whole
      for (const r of entries) model.set(r.id, r);
      await fillUntilRefused(srv);
      continue;
    }
    assertRefusal(res, 'transaction');
    for (const r of entries) {
      absent.add(r.id);
      const got = await send(srv, 'GET', `/fhir/Patient/${r.id}`);
      assert.equal(got.status, 404, `a refused transaction stored nothing: Patient/${r.id} is ${got.status}`);
    }
    return;
  }
  assert.fail('no transaction was refused while the store was full');
}

test(`disk full: writes refused with 507, nothing corrupted, writes again when space returns (${PG_MODE ? 'PostgreSQL' : 'SQLite'})`, { timeout: 600000 }, async (t) => {
  const mode = spaceMode();
  t.diagnostic(`space runs out by: ${mode}`);
  const store = makeStore(mode);
  let srv = await startServer({ dataDir: store.dataDir });
  try {
    // a store with some content, then the space runs short
    for (let i = 0; i < 20; i++) await put(srv, patient(nextId('pre')));
    assert.equal(refusals, 0, 'the first writes fit');
    store.squeeze(srv);

    const began = Date.now();
    const stored = await fillUntilRefused(srv);
    t.diagnostic(`filled: ${stored} more Patients stored before the writes were refused`);
    await readsWork(srv, 'after the fill');
    const kinds = await everyWriteKind(srv);
    t.diagnostic(`while full: ${JSON.stringify(kinds)}`);
    await refusedTransaction(srv);
    await readsWork(srv, 'after the refused transaction');
    await verifyAll(srv, 'while full');
    assert.ok(refusals >= 5, `writes were refused (${refusals})`);
    t.diagnostic(`refusals: ${refusals} (507: ${seen[507]}, 503: ${seen[503]})`);
    assert.ok(seen[507] > 0, 'no space is 507, not only 503');

    // the log: one line per kind of failure (rate-limited), naming it
    const elapsed = (Date.now() - began) / 1000;
    const lines = srv.stderr().split('\n').filter((l) => l.startsWith('bron: store: '));
    assert.ok(lines.some((l) => l.includes('no space left')), `the log names the failure:\n${lines.join('\n')}`);
    const bound = 5 * (Math.ceil(elapsed / 10) + 1);
    assert.ok(lines.length <= bound,
      `the store logged ${lines.length} lines for ${refusals} refusals in ${elapsed.toFixed(1)} s (at most ${bound}: one per kind per 10 s)`);

    // a clean stop and a new start while the store is still full: it
    // opens, reads everything, refuses writes
    await srv.stop();
    srv = await startServer({ dataDir: store.dataDir });
    store.again(srv);
    await readsWork(srv, 'restarted while full');
    await verifyAll(srv, 'restarted while full');
    await fillUntilRefused(srv, { streak: 2, workers: 2 });

    // space returns: writes succeed again, without a restart
    store.grow(srv);
    let again = null;
    for (let i = 0; i < 50 && !(again && again.status === 201); i++) {
      if (again) await sleep(100);
      again = await put(srv, patient(nextId('again')));
    }
    assert.equal(again.status, 201, `a write succeeds once space returned: ${again.status} ${again.text.slice(0, 300)}`);
    const tx = Array.from({ length: 10 }, () => patient(nextId('tx-again'), 8192));
    const txr = await send(srv, 'POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: tx.map((r) => ({ resource: r, request: { method: 'PUT', url: `Patient/${r.id}` } })),
    });
    assert.equal(txr.status, 200, `a transaction succeeds once space returned: ${txr.status} ${txr.text.slice(0, 300)}`);
    for (const r of tx) model.set(r.id, r);
    for (let i = 0; i < 40; i++) {
      const res = await put(srv, patient(nextId('more')));
      assert.equal(res.status, 201, `writes keep succeeding once space returned: ${res.status}`);
    }
    await verifyAll(srv, 'after space returned');
    await sleep(200);
    assert.match(srv.stderr(), /bron: store: writes succeed again/, 'the log says when writes work again');

    // a clean stop, then the store is intact: the audit chain verifies and a
    // new server reads everything back
    await srv.stop();
    const audit = await runBron(['audit', 'verify', ...storeArgs(store.dataDir)], 120000);
    assert.equal(audit.code, 0, `bron audit verify after the disk was full:\n${audit.stdout}\n${audit.stderr}`);
    // the whole store: index rows against bodies, versions, the audit chain
    const check = await runBron(['check', ...storeArgs(store.dataDir)], 120000);
    assert.equal(check.code, 0, `bron check after the disk was full:\n${check.stdout}\n${check.stderr}`);
    assert.match(check.stdout, /consistent/, 'bron check says the store is consistent');
    srv = await startServer({ dataDir: store.dataDir });
    await verifyAll(srv, 'after a restart');
    await srv.stop();
  } finally {
    if (!srv.stopped) await srv.stop().catch(() => {});
    // a mounted data dir goes with its mount (undoMounts)
    if (!mounts.includes(store.dataDir)) fs.rmSync(store.dataDir, { recursive: true, force: true });
  }
});
