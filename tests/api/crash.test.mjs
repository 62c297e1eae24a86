// Crash consistency (issue 10): `bron serve` under a write load is killed with
// SIGKILL at random moments, restarted on the same store each time, and the
// store is checked against what the clients know.
//
// CRASH_CLIENTS (default 4) clients write at once, each on resources of its
// own, one request at a time: creates (POST, server id; PUT, client id),
// updates with If-Match, deletes, and transaction Bundles (two new Patients
// and an Observation referring to one of them by urn:uuid, and often an
// update of an existing Patient with ifMatch; the Observation holds a
// contained Practitioner). Every write carries a tag of
// its own (identifier and family name), so a write whose answer never came
// can be found by searching for its tag. For every request the harness
// records whether it was acknowledged (a 2xx answer, with the versions it
// gave) or in flight when the kill came (no answer).
//
// Each of CRASH_KILLS rounds (default 50; `make torture` runs 500) starts the
// server (no manual step: startServer fails the test if it does not answer;
// in a fifth of the rounds a server is first killed within 80 ms of its
// spawn, while it opens the store),
// lets the clients write for a random while (a fifth of the kills right after
// startup, the rest within ~0.5 s of load), kills it with SIGKILL, and then:
//   - every write in flight is wholly there or wholly absent: a transaction's
//     entries all present (with the versions a commit gives) or all absent;
//   - every acknowledged write is there with exactly the content and version
//     acknowledged (or the in-flight write after it), acknowledged deletes
//     answer 410, and the history holds exactly that many versions;
//   - `bron check` finds the store consistent (index rows against bodies,
//     versions, the audit chain): on odd rounds on the killed store before
//     the restart, on even rounds beside the restarted server while the
//     clients write again;
//   - no sanitizer report in the killed server's stderr (server.crash()).
// At the end the server is stopped cleanly, every resource ever written is
// checked once more, and `bron check` runs on the stopped store. A summary
// line gives kills, acknowledged writes checked and in-flight writes found
// present/absent. Runs on either engine (BRON_TEST_STORE=postgres).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  startServer, tempDir, removeStore, storeArgs, storeUrl, pgDbName, pgSql, pool, sleep, freePort, BRON_BIN, REPO_ROOT,
  assertCleanStderr, PG_MODE,
} from './lib/server.mjs';
import { send } from './lib/fhir.mjs';

const KILLS = Number(process.env.CRASH_KILLS || 50);
const CLIENTS = Number(process.env.CRASH_CLIENTS || 4);
const SYS = 'urn:test:crash';

const dirs = [];
const running = [];
after(async () => {
  for (const s of running) if (!s.stopped) { try { await s.crash(); } catch { /* reported by its test */ } }
  for (const d of dirs) removeStore(d);
});

/** bron check on the store of dataDir: { code, stdout, stderr }. */
function bronCheck(dataDir) {
  return new Promise((resolve, reject) => {
    const p = spawn(BRON_BIN, ['check', ...storeArgs(dataDir)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      assertCleanStderr(stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Start bron serve on the store and SIGKILL it within `ms` of the spawn,
 * while it opens the store (recovery interrupted). Its stderr must be clean. */
async function killDuringStartup(dataDir, ms) {
  const port = await freePort();
  const p = spawn(BRON_BIN, ['serve', '--bind', '127.0.0.1', '--port', String(port), ...storeArgs(dataDir), '--open'],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: REPO_ROOT });
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => p.on('exit', resolve));
  await sleep(ms);
  p.kill('SIGKILL');
  await exited;
  assertCleanStderr(stderr);
}

/** PostgreSQL: wait until the killed server's backends are gone. A backend
 * that had its COMMIT when the kill came still finishes it; until it exits,
 * an in-flight write may yet appear, and the harness would see it absent. */
async function pgQuiet(dataDir) {
  if (!PG_MODE) return;
  const db = pgDbName(storeUrl(dataDir));
  for (let i = 0; i < 500; i++) {
    const n = Number(pgSql(db, 'SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()'));
    if (n === 0) return;
    await sleep(20);
  }
  assert.fail('the killed server\'s PostgreSQL backends did not end within 10 s');
}

function assertConsistent(r, when) {
  assert.equal(r.code, 0, `bron check ${when}: exit ${r.code} ${r.signal || ''}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^consistent: \d+ resources, \d+ versions, \d+ index rows, audit chain of \d+ records$/m, r.stdout);
}

const rnd = (n) => Math.floor(Math.random() * n);
const uuid = () => `urn:uuid:${crypto.randomUUID()}`;
const verOf = (etag) => Number(/^W\/"(\d+)"$/.exec(etag || '')?.[1] || NaN);

function patient(tag, id) {
  return {
    resourceType: 'Patient',
    ...(id ? { id } : {}),
    identifier: [{ system: SYS, value: tag }],
    active: true,
    name: [{ family: tag, given: ['Crash'] }],
    // meta last: the stored form puts it first (the index must not care)
    meta: { tag: [{ system: SYS, code: tag }] },
  };
}

function observation(tag, subject) {
  return {
    resourceType: 'Observation',
    identifier: [{ system: SYS, value: tag }],
    status: 'final',
    code: { text: 'crash' },
    subject: { reference: subject },
    // a contained resource: rows of its own (deleted = 2), checked by bron check
    contained: [{ resourceType: 'Practitioner', id: 'pr', name: [{ family: `${tag}p` }] }],
    performer: [{ reference: '#pr' }],
  };
}

/** A resource without what the server sets (id, meta.versionId, meta.lastUpdated). */
function content(r) {
  const { id, meta, ...rest } = r;
  const m = Object.fromEntries(Object.entries(meta || {}).filter(([k]) => k !== 'versionId' && k !== 'lastUpdated'));
  return Object.keys(m).length ? { ...rest, meta: m } : rest;
}

describe(`crash consistency: ${KILLS} kills with SIGKILL under load${PG_MODE ? ' (PostgreSQL)' : ''}`, () => {
  it('keeps every acknowledged write, no half write, a consistent store; starts every time', { timeout: 3600_000 }, async () => {
    const dataDir = tempDir('crash-');
    dirs.push(dataDir);
    // What the clients know: every resource with a known id, as acknowledged
    // (or as found after a kill).
    const known = new Map(); // 'Type/id' -> { type, id, ver, deleted, body, owner }
    const byOwner = Array.from({ length: CLIENTS }, () => new Set()); // each client's keys
    let dirty = new Set(); // keys written since the last verification
    function remember(key, rec) {
      known.set(key, rec);
      if (rec.owner !== null && rec.owner !== undefined) byOwner[rec.owner].add(key);
      dirty.add(key);
    }
    const ms = { start: 0, check: 0, verify: 0 };
    const timed = async (k, p) => { const t = Date.now(); try { return await p; } finally { ms[k] += Date.now() - t; } };
    const stats = { startupKills: 0, kills: 0, acked: 0, checked: 0, inflightPresent: 0, inflightAbsent: 0, refused: 0, checks: 0 };
    let serial = 0;
    let round = 0;

    // ---- one client's writes; `op.unknown` lists what a write in flight may have done ----
    async function client(srv, c, stop, pending) {
      const mine = () => [...byOwner[c]].map((k) => known.get(k)).filter((r) => !r.deleted && r.type === 'Patient');
      while (!stop.now) {
        const tag = `r${round}c${c}n${serial++}`;
        const live = mine();
        const dice = rnd(100);
        let op; // { entries: [{ type, id, before, after, tag, search }] , req }
        if (dice < 20) {
          const body = patient(tag);
          op = { entries: [{ type: 'Patient', id: null, tag, before: null, after: { ver: 1, deleted: false, body } }],
            req: () => send(srv, 'POST', '/fhir/Patient', body) };
        } else if (dice < 40 || live.length === 0) {
          const id = `c${c}-${tag}`;
          const body = patient(tag, id);
          op = { entries: [{ type: 'Patient', id, tag, before: null, after: { ver: 1, deleted: false, body: content(body) } }],
            req: () => send(srv, 'PUT', `/fhir/Patient/${id}`, body) };
        } else if (dice < 65) {
          const r = live[rnd(live.length)];
          const body = patient(tag, r.id);
          op = { entries: [{ type: 'Patient', id: r.id, tag, before: { ...r }, after: { ver: r.ver + 1, deleted: false, body: content(body) } }],
            req: () => send(srv, 'PUT', `/fhir/Patient/${r.id}`, body, { 'if-match': `W/"${r.ver}"` }) };
        } else if (dice < 75) {
          const r = live[rnd(live.length)];
          op = { entries: [{ type: 'Patient', id: r.id, tag: null, before: { ...r }, after: { ver: r.ver + 1, deleted: true, body: null } }],
            req: () => send(srv, 'DELETE', `/fhir/Patient/${r.id}`) };
        } else {
          const [u1, u2] = [uuid(), uuid()];
          const p1 = patient(`${tag}a`);
          const p2 = patient(`${tag}b`);
          const ob = observation(`${tag}o`, u1);
          const entries = [
            { type: 'Patient', id: null, tag: `${tag}a`, before: null, after: { ver: 1, deleted: false, body: p1 }, fullUrl: u1 },
            { type: 'Patient', id: null, tag: `${tag}b`, before: null, after: { ver: 1, deleted: false, body: p2 }, fullUrl: u2 },
            { type: 'Observation', id: null, tag: `${tag}o`, before: null, after: { ver: 1, deleted: false, body: ob }, refersTo: 0 },
          ];
          const bundle = {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { fullUrl: u1, resource: p1, request: { method: 'POST', url: 'Patient' } },
              { fullUrl: u2, resource: p2, request: { method: 'POST', url: 'Patient' } },
              { resource: ob, request: { method: 'POST', url: 'Observation' } },
            ],
          };
          const r = live.length && rnd(2) ? live[rnd(live.length)] : null;
          if (r) {
            const body = patient(`${tag}u`, r.id);
            entries.push({ type: 'Patient', id: r.id, tag: `${tag}u`, before: { ...r }, after: { ver: r.ver + 1, deleted: false, body: content(body) } });
            bundle.entry.push({ resource: body, request: { method: 'PUT', url: `Patient/${r.id}`, ifMatch: `W/"${r.ver}"` } });
          }
          op = { entries, txn: true, req: () => send(srv, 'POST', '/fhir', bundle) };
        }
        op.owner = c;
        let res;
        try {
          res = await op.req();
        } catch {
          pending.push(op); // no answer: in flight when the kill came
          return;
        }
        if (res.status < 200 || res.status > 299) {
          op.refused = res.status; // answered with an error: nothing may be stored
          pending.push(op);
          continue;
        }
        // acknowledged: the versions it gave
        const got = op.txn
          ? res.json.entry.map((e) => {
            const m = /\/(Patient|Observation)\/([^/]+)\/_history\/(\d+)$/.exec(e.response.location || '');
            return m ? { id: m[2], ver: Number(m[3]) } : { id: null, ver: verOf(e.response.etag) };
          })
          : [{ id: res.json?.id, ver: verOf(res.headers.etag) }];
        op.entries.forEach((e, i) => {
          const g = got[i] || {};
          const id = e.id || g.id;
          assert.ok(id, `${op.txn ? 'transaction' : e.type} acknowledged without an id: ${res.text.slice(0, 300)}`);
          assert.equal(g.ver, e.after.ver, `${e.type}/${id}: acknowledged version ${g.ver}, expected ${e.after.ver}`);
          const body = e.refersTo !== undefined
            ? { ...e.after.body, subject: { reference: `Patient/${got[e.refersTo].id}` } }
            : e.after.body && content(e.after.body);
          remember(`${e.type}/${id}`, { type: e.type, id, ver: g.ver, deleted: e.after.deleted, body, owner: c });
          stats.acked++;
        });
      }
    }

    // ---- the state of one resource now: { ver, deleted, body } or null (never was) ----
    async function readState(srv, type, id) {
      const res = await srv.request('GET', `/fhir/${type}/${id}`);
      if (res.status === 404) return null;
      if (res.status === 410) return { ver: verOf(res.headers.etag), deleted: true, body: null };
      assert.equal(res.status, 200, `GET ${type}/${id}: ${res.status} ${res.text.slice(0, 300)}`);
      assert.equal(res.json.id, id);
      return { ver: Number(res.json.meta.versionId), deleted: false, body: content(res.json) };
    }

    async function historyCount(srv, type, id) {
      const res = await srv.request('GET', `/fhir/${type}/${id}/_history?_count=1000`);
      assert.equal(res.status, 200, `history of ${type}/${id}: ${res.status}`);
      return res.json.entry?.length || 0;
    }

    function same(state, want) {
      if (!state) return want === null;
      if (!want) return false;
      return state.ver === want.ver && state.deleted === want.deleted
        && (state.deleted || JSON.stringify(sortKeys(state.body)) === JSON.stringify(sortKeys(want.body)));
    }

    /** The id of the resource carrying tag (search: the index must agree), or null. */
    async function findTag(srv, type, tag) {
      const res = await srv.request('GET', `/fhir/${type}?identifier=${encodeURIComponent(`${SYS}|${tag}`)}`);
      assert.equal(res.status, 200, `search ${type} ${tag}: ${res.status}`);
      const n = res.json.entry?.length || 0;
      assert.ok(n <= 1, `${n} ${type} resources carry tag ${tag}`);
      return n ? res.json.entry[0].resource.id : null;
    }

    // ---- after a restart: settle the writes in flight, then check what was acknowledged ----
    async function settle(srv, pending) {
      for (const op of pending) {
        const applied = [];
        const ids = [];
        for (const [i, e] of op.entries.entries()) {
          let id = e.id;
          if (!id) id = await findTag(srv, e.type, e.tag);
          ids.push(id);
          if (!id) { applied.push(false); continue; }
          const state = await readState(srv, e.type, id);
          let want = e.after;
          if (e.refersTo !== undefined) {
            want = { ...want, body: { ...want.body, subject: { reference: `Patient/${ids[e.refersTo]}` } } };
          }
          if (same(state, want)) applied.push(true);
          else if (same(state, e.before)) applied.push(false);
          else assert.fail(`${e.type}/${id} after a kill is neither before nor after the write in flight:\n  now ${JSON.stringify(state)}\n  before ${JSON.stringify(e.before)}\n  after ${JSON.stringify(want)}`);
        }
        const all = applied.every(Boolean);
        const none = applied.every((x) => !x);
        assert.ok(all || none, `a write in flight is half there (${op.txn ? 'transaction' : 'request'}): ${JSON.stringify(op.entries.map((e, i) => ({ type: e.type, id: ids[i], tag: e.tag, applied: applied[i] })))}`);
        if (op.refused) {
          assert.ok(none, `a write answered ${op.refused} was stored`);
          stats.refused++;
          continue;
        }
        if (all) stats.inflightPresent++;
        else stats.inflightAbsent++;
        op.entries.forEach((e, i) => {
          if (!all || !ids[i]) return;
          const body = e.refersTo !== undefined
            ? { ...e.after.body, subject: { reference: `Patient/${ids[e.refersTo]}` } }
            : e.after.body && content(e.after.body);
          remember(`${e.type}/${ids[i]}`, { type: e.type, id: ids[i], ver: e.after.ver, deleted: e.after.deleted, body, owner: op.owner });
        });
      }
      pending.length = 0;
    }

    async function verify(srv, keys) {
      await pool([...keys], 8, async (key) => {
        const r = known.get(key);
        const state = await readState(srv, r.type, r.id);
        assert.ok(same(state, r), `${key}: acknowledged ${JSON.stringify({ ver: r.ver, deleted: r.deleted, body: r.body })}, found ${JSON.stringify(state)}`);
        assert.equal(await historyCount(srv, r.type, r.id), r.ver, `${key}: history length`);
        stats.checked++;
      });
    }

    let srv = await startServer({ dataDir });
    running.push(srv);
    const pending = [];
    const t0 = Date.now();
    for (round = 1; round <= KILLS; round++) {
      const stop = { now: false };
      // even rounds: bron check beside the server while the clients write
      const beside = round % 2 === 0 ? bronCheck(dataDir) : null;
      const clients = Array.from({ length: CLIENTS }, (_, c) => client(srv, c, stop, pending)
        .then(() => undefined, (e) => e));
      const early = rnd(5) === 0;
      await sleep(early ? rnd(15) : 30 + rnd(300));
      await srv.crash(); // SIGKILL; fails on a sanitizer report
      stats.kills++;
      stop.now = true;
      const errs = (await Promise.all(clients)).filter(Boolean);
      if (errs.length) throw errs[0];
      const besideResult = beside && await timed('check', beside);
      await pgQuiet(dataDir);
      if (besideResult) { assertConsistent(besideResult, `beside the server (round ${round})`); stats.checks++; }
      // odd rounds: bron check on the killed store, before any restart
      if (round % 2 === 1) { assertConsistent(await timed('check', bronCheck(dataDir)), `after kill ${round}`); stats.checks++; }
      // now and then a kill while the next server opens the store
      if (rnd(5) === 0) {
        await killDuringStartup(dataDir, rnd(80));
        stats.startupKills++;
      }
      srv = await timed('start', startServer({ dataDir })); // must start with no manual step
      running.push(srv);
      await timed('verify', settle(srv, pending));
      const keys = dirty;
      dirty = new Set();
      await timed('verify', verify(srv, keys));
    }
    // the end: a clean stop, everything once more, bron check on the stopped store
    await verify(srv, known.keys());
    await srv.stop({ keepData: true });
    assertConsistent(await bronCheck(dataDir), 'at the end');
    stats.checks++;
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const line = `crash${PG_MODE ? ' (postgresql)' : ''}: ${stats.kills} kills under load + ${stats.startupKills} during startup, ${stats.acked} acknowledged writes, ${stats.checked} resource checks, in-flight writes ${stats.inflightPresent} present / ${stats.inflightAbsent} absent, ${stats.refused} refused, ${known.size} resources, ${stats.checks} bron check runs consistent, ${secs}s (starts ${ms.start} ms, checks ${ms.check} ms, verification ${ms.verify} ms)`;
    console.log(line);
    assert.ok(stats.acked > 0 && stats.kills === KILLS);
  });
});

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}
