// PostgreSQL engine (issue 6): what only a database server adds to the rest of
// the API suite (which runs whole on PostgreSQL as "api-pg" in tests/run.sh):
//   - two Bron processes on ONE database, 16 clients each: racing If-Match
//     updates lose nothing and give exactly one winner, version ids stay
//     monotonic per resource across the processes, racing conditional
//     creates make one resource, transactions are all or nothing, and what
//     one process writes the other reads;
//   - `bron migrate` and the schema version check; `store = URL` in --config;
//   - GET /health, and the database stopped and started under load: 503
//     OperationOutcome ("transient", Retry-After) within ~10 s meanwhile,
//     recovery without a restart, nothing acknowledged lost.
// Runs only in PostgreSQL mode (BRON_TEST_STORE=postgres, BRON_PG_DIR).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { SYNTHEA_DIR, syntheaFiles } from './import-check.mjs';
import {
  startServer, tempDir, storeUrl, pgSql, pgDbName, removeStore, PG_MODE, BRON_BIN, REPO_ROOT,
  assertCleanStderr, freePort, sleep, request, pool,
} from './lib/server.mjs';
import { client, send, allPages, assertOutcome, isFhirJsonType, newId, etagVersion } from './lib/fhir.mjs';

const skip = PG_MODE ? false : 'PostgreSQL mode only (run by tests/run.sh api-pg)';
const CLUSTER_SH = path.join(REPO_ROOT, 'tests/pg/cluster.sh');
const PER_SERVER = 16; // concurrent clients on each of the two processes
const SYS = 'http://example.org/pg-test';

/** Run bron to completion (killed after timeoutMs); { code, signal, stdout, stderr, ms }. */
function run(args, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(BRON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    let killed = false;
    const timer = setTimeout(() => { killed = true; p.kill('SIGKILL'); }, timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed, ms: Date.now() - t0 });
    });
  });
}

const show = (r) => `${r.status} ${r.headers && r.headers['retry-after'] !== undefined ? `(Retry-After ${r.headers['retry-after']}) ` : ''}${String(r.text).slice(0, 400)}`;

/** Two servers on one fresh database; stop() stops both (B first, then A drops the database). */
async function twoServers() {
  const a = await startServer();
  let b;
  try {
    b = await startServer({ dataDir: a.dataDir });
  } catch (e) {
    await a.stop();
    throw e;
  }
  return {
    a, b,
    both: [a, b],
    async stop() {
      try { await b.stop(); } finally { await a.stop(); }
    },
  };
}

/** The 32 clients: index i talks to server a for i < 16, else b. */
const clients = (pair) => Array.from({ length: 2 * PER_SERVER }, (_, i) => ({ i, srv: i < PER_SERVER ? pair.a : pair.b, other: i < PER_SERVER ? pair.b : pair.a }));

const COUNTER_URL = 'http://example.org/fhir/StructureDefinition/counter';
const counterOf = (r) => ((r.extension || []).find((e) => e.url === COUNTER_URL) || {}).valueInteger;
const basicWith = (id, n, who) => ({
  resourceType: 'Basic', id, code: { text: `by ${who}` }, extension: [{ url: COUNTER_URL, valueInteger: n }],
});

describe('two Bron processes on one PostgreSQL database, 16 clients each', { skip }, () => {
  let pair;
  before(async () => { pair = await twoServers(); });
  after(async () => { if (pair) await pair.stop(); });

  it('both processes see the same store', async () => {
    const id = newId('seen');
    const w = await send(pair.a, 'PUT', `/fhir/Basic/${id}`, { resourceType: 'Basic', id, code: { text: 'x' } });
    assert.ok([200, 201].includes(w.status), show(w));
    const r = await send(pair.b, 'GET', `/fhir/Basic/${w.json.id}`);
    assert.equal(r.status, 200, `written through A, read through B: ${show(r)}`);
  });

  it('racing PUTs with the same If-Match: exactly one 200, the others 412', { timeout: 300000 }, async () => {
    const RESOURCES = 4;
    const ROUNDS = 5;
    const ids = Array.from({ length: RESOURCES }, () => newId('race'));
    for (const id of ids) {
      const r = await send(pair.a, 'PUT', `/fhir/Basic/${id}`, basicWith(id, 0, 'setup'));
      assert.equal(r.status, 201, show(r));
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const id of ids) {
        const cur = await send(pair.b, 'GET', `/fhir/Basic/${id}`);
        assert.equal(cur.status, 200, show(cur));
        const v = Number(cur.json.meta.versionId);
        assert.equal(v, round + 1, `Basic/${id} before round ${round}`);
        const answers = await Promise.all(clients(pair).map(({ i, srv }) => send(srv, 'PUT', `/fhir/Basic/${id}`,
          basicWith(id, round + 1, `client ${i}`), { 'If-Match': `W/"${v}"` })));
        const ok = answers.filter((r) => r.status === 200);
        const other = answers.filter((r) => r.status !== 200 && r.status !== 412);
        assert.deepEqual(other.map(show), [], `round ${round}, Basic/${id} If-Match W/"${v}": answers other than 200 or 412`);
        assert.equal(ok.length, 1, `round ${round}, Basic/${id}: ${ok.length} of ${answers.length} PUTs with If-Match W/"${v}" succeeded (versions ${ok.map((r) => r.json && r.json.meta && r.json.meta.versionId)})`);
        assert.equal(ok[0].json.meta.versionId, String(v + 1), 'the winner made the next version');
        assert.equal(ok[0].headers.etag, `W/"${v + 1}"`);
        for (const r of answers.filter((x) => x.status === 412)) assertOutcome(r, 412, `round ${round} loser`);
      }
    }
    for (const id of ids) {
      for (const srv of pair.both) {
        const { entries } = await allPages(srv, `/fhir/Basic/${id}/_history?_count=100`);
        assert.deepEqual(entries.map((e) => Number(e.resource.meta.versionId)), Array.from({ length: ROUNDS + 1 }, (_, k) => ROUNDS + 1 - k),
          `history of Basic/${id} through port ${srv.port}: one version per winner, no gap`);
        assert.deepEqual(entries.map((e) => counterOf(e.resource)), Array.from({ length: ROUNDS + 1 }, (_, k) => ROUNDS - k));
      }
    }
  });

  it('32 clients read-modify-write 4 counters through both processes: no lost update, no gap, versions monotonic', { timeout: 600000 }, async () => {
    const RESOURCES = 4;
    const ATTEMPTS = 12;
    const ids = Array.from({ length: RESOURCES }, () => newId('ctr'));
    for (const id of ids) {
      const r = await send(pair.b, 'PUT', `/fhir/Basic/${id}`, basicWith(id, 0, 'setup'));
      assert.equal(r.status, 201, show(r));
    }
    const wins = new Map(ids.map((id) => [id, []])); // id -> versions won
    const bad = [];
    await Promise.all(clients(pair).map(async ({ i, srv, other }) => {
      for (let k = 0; k < ATTEMPTS; k++) {
        const id = ids[(i + k) % RESOURCES];
        const cur = await send(srv, 'GET', `/fhir/Basic/${id}`);
        if (cur.status !== 200) { bad.push(`client ${i} GET Basic/${id}: ${show(cur)}`); continue; }
        const v = Number(cur.json.meta.versionId);
        const n = counterOf(cur.json);
        const r = await send(srv, 'PUT', `/fhir/Basic/${id}`, basicWith(id, n + 1, `client ${i}`), { 'If-Match': `W/"${v}"` });
        if (r.status === 412) continue;
        if (r.status !== 200) { bad.push(`client ${i} PUT Basic/${id} If-Match W/"${v}": ${show(r)}`); continue; }
        const got = Number(r.json.meta.versionId);
        if (got !== v + 1) bad.push(`client ${i} PUT Basic/${id} If-Match W/"${v}" made version ${got}`);
        wins.get(id).push(got);
        // the other process never answers an older version than one already acknowledged
        const seen = await send(other, 'GET', `/fhir/Basic/${id}`);
        if (seen.status !== 200 || Number(seen.json.meta.versionId) < got) {
          bad.push(`after version ${got} of Basic/${id} was acknowledged, the other process answered ${seen.status} version ${seen.json && seen.json.meta && seen.json.meta.versionId}`);
        }
      }
    }));
    assert.deepEqual(bad, []);
    for (const id of ids) {
      const won = wins.get(id).sort((x, y) => x - y);
      const final = await send(pair.a, 'GET', `/fhir/Basic/${id}`);
      assert.equal(final.status, 200, show(final));
      const fv = Number(final.json.meta.versionId);
      assert.equal(won.length, fv - 1, `Basic/${id}: ${won.length} successful If-Match updates but final version ${fv}`);
      assert.deepEqual(won, Array.from({ length: fv - 1 }, (_, k) => k + 2), `Basic/${id}: every success reported a distinct version`);
      assert.equal(counterOf(final.json), won.length, `Basic/${id}: lost update (counter ${counterOf(final.json)}, ${won.length} successes)`);
      const { entries } = await allPages(pair.b, `/fhir/Basic/${id}/_history?_count=1000`);
      assert.deepEqual(entries.map((e) => Number(e.resource.meta.versionId)), Array.from({ length: fv }, (_, k) => fv - k), `history of Basic/${id} has a gap`);
      for (const e of entries) assert.equal(counterOf(e.resource), Number(e.resource.meta.versionId) - 1, `Basic/${id} version ${e.resource.meta.versionId} holds the wrong count`);
      assert.ok(won.length >= 1, 'at least one update per counter succeeded');
    }
  });

  it('32 racing update-as-create PUTs of one new id through both processes: one 201, versions 1..32', { timeout: 120000 }, async () => {
    const id = newId('uac');
    const answers = await Promise.all(clients(pair).map(({ i, srv }) => send(srv, 'PUT', `/fhir/Basic/${id}`, basicWith(id, i, `client ${i}`))));
    const other = answers.filter((r) => r.status !== 200 && r.status !== 201);
    assert.deepEqual(other.map(show), [], 'answers other than 200/201');
    assert.equal(answers.filter((r) => r.status === 201).length, 1, `201s: ${answers.map((r) => r.status)}`);
    const versions = answers.map((r) => Number(r.json.meta.versionId)).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: answers.length }, (_, k) => k + 1), 'each PUT made its own version');
    const created = answers.find((r) => r.status === 201);
    assert.equal(created.json.meta.versionId, '1', 'the 201 is version 1');
    const { entries } = await allPages(pair.a, `/fhir/Basic/${id}/_history?_count=100`);
    assert.equal(entries.length, answers.length);
  });

  it('racing conditional creates (If-None-Exist) through both processes make one resource per identifier', { timeout: 300000 }, async () => {
    const VALUES = 6;
    const run = newId('cc');
    for (let x = 0; x < VALUES; x++) {
      const value = `${run}-${x}`;
      const answers = await Promise.all(clients(pair).map(({ i, srv }) => send(srv, 'POST', '/fhir/Patient',
        { resourceType: 'Patient', identifier: [{ system: SYS, value }], name: [{ family: `client${i}` }] },
        { 'If-None-Exist': `identifier=${encodeURIComponent(`${SYS}|${value}`)}` })));
      const other = answers.filter((r) => r.status !== 200 && r.status !== 201);
      assert.deepEqual(other.map(show), [], `identifier ${value}: answers other than 201 or 200`);
      const made = answers.filter((r) => r.status === 201);
      assert.equal(made.length, 1, `identifier ${value}: ${made.length} of ${answers.length} conditional creates made a resource (ids ${made.map((r) => r.json.id)})`);
      const ids = new Set(answers.map((r) => r.json && r.json.id));
      assert.deepEqual([...ids], [made[0].json.id], `identifier ${value}: every answer names the one resource`);
      for (const srv of pair.both) {
        const s = await send(srv, 'GET', `/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|${value}`)}&_count=100`);
        assert.equal(s.status, 200, show(s));
        const found = (s.json.entry || []).filter((e) => e.search && e.search.mode === 'match').map((e) => e.resource.id);
        assert.deepEqual(found, [made[0].json.id], `identifier ${value}: search through port ${srv.port}`);
      }
    }
  });

  it('racing conditional updates (PUT Patient?identifier=...) through both processes make one resource', { timeout: 300000 }, async () => {
    const VALUES = 4;
    const run = newId('cu');
    for (let x = 0; x < VALUES; x++) {
      const value = `${run}-${x}`;
      const q = `identifier=${encodeURIComponent(`${SYS}|${value}`)}`;
      const answers = await Promise.all(clients(pair).map(({ i, srv }) => send(srv, 'PUT', `/fhir/Patient?${q}`,
        { resourceType: 'Patient', identifier: [{ system: SYS, value }], name: [{ family: `client${i}` }] })));
      const other = answers.filter((r) => r.status !== 200 && r.status !== 201);
      assert.deepEqual(other.map(show), [], `identifier ${value}: answers other than 201 or 200`);
      assert.equal(answers.filter((r) => r.status === 201).length, 1, `identifier ${value}: statuses ${answers.map((r) => r.status)}`);
      assert.equal(new Set(answers.map((r) => r.json.id)).size, 1, `identifier ${value}: more than one resource named in the answers`);
      const versions = answers.map((r) => Number(r.json.meta.versionId)).sort((a, b) => a - b);
      assert.deepEqual(versions, Array.from({ length: answers.length }, (_, k) => k + 1), `identifier ${value}: each update made its own version`);
      const s = await send(pair.b, 'GET', `/fhir/Patient?${q}`);
      assert.equal((s.json.entry || []).filter((e) => e.search.mode === 'match').length, 1, `identifier ${value}: ${show(s)}`);
    }
  });

  it('racing PUTs and DELETEs of one resource through both processes: distinct versions, a history without gaps', { timeout: 300000 }, async () => {
    const id = newId('pd');
    const first = await send(pair.a, 'PUT', `/fhir/Basic/${id}`, basicWith(id, 0, 'setup'));
    assert.equal(first.status, 201, show(first));
    const answers = [];
    await Promise.all(clients(pair).map(async ({ i, srv }) => {
      for (let k = 0; k < 6; k++) {
        const del = (i + k) % 3 === 0;
        const r = del ? await send(srv, 'DELETE', `/fhir/Basic/${id}`) : await send(srv, 'PUT', `/fhir/Basic/${id}`, basicWith(id, k, `client ${i}`));
        answers.push({ del, r, what: `client ${i} ${del ? 'DELETE' : 'PUT'}` });
      }
    }));
    const bad = answers.filter(({ del, r }) => (del ? r.status !== 200 && r.status !== 204 : r.status !== 200 && r.status !== 201));
    assert.deepEqual(bad.map((a) => `${a.what}: ${show(a.r)}`), []);
    const putVersions = answers.filter((a) => !a.del).map((a) => Number(a.r.json.meta.versionId));
    assert.equal(new Set(putVersions).size, putVersions.length, 'two PUTs reported the same version');
    for (const srv of pair.both) {
      const { entries } = await allPages(srv, `/fhir/Basic/${id}/_history?_count=1000`);
      const vs = entries.map((e) => Number(etagVersion(e.response.etag)));
      assert.deepEqual(vs, Array.from({ length: vs.length }, (_, k) => vs.length - k), `history of Basic/${id} through port ${srv.port}: ${vs.join(',')}`);
      for (const v of putVersions) assert.ok(v <= vs.length, `PUT reported version ${v} beyond the history's ${vs.length}`);
    }
  });

  it('transactions from both processes are all or nothing, also when they race on one If-Match', { timeout: 300000 }, async () => {
    const run = newId('tx');
    const shared = newId('txshared');
    const put = await send(pair.a, 'PUT', `/fhir/Basic/${shared}`, { resourceType: 'Basic', id: shared, code: { text: 'start' } });
    assert.equal(put.status, 201, show(put));
    // every client sends 3 transactions: a Patient, an Observation of it (urn:uuid
    // reference) and a PUT of the shared Basic with If-Match of the version it
    // just read; one in four also carries an invalid entry and must fail whole
    const results = [];
    await Promise.all(clients(pair).map(async ({ i, srv }) => {
      for (let k = 0; k < 3; k++) {
        const tag = `${run}-${i}-${k}`;
        const invalid = (i + k) % 4 === 3;
        const cur = await send(srv, 'GET', `/fhir/Basic/${shared}`);
        assert.equal(cur.status, 200, show(cur));
        const entry = [
          { fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: { resourceType: 'Patient', identifier: [{ system: SYS, value: tag }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Basic', id: shared, code: { text: tag } }, request: { method: 'PUT', url: `Basic/${shared}`, ifMatch: `W/"${cur.json.meta.versionId}"` } },
        ];
        entry.push({ resource: { resourceType: 'Observation', status: 'final', identifier: [{ system: SYS, value: tag }], code: { text: 'tx' }, subject: { reference: entry[0].fullUrl } }, request: { method: 'POST', url: 'Observation' } });
        if (invalid) entry.push({ resource: { resourceType: 'Patient', birthDate: 'not-a-date' }, request: { method: 'POST', url: 'Patient' } });
        const r = await send(srv, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry });
        results.push({ tag, invalid, r, i });
      }
    }));
    const bad = [];
    for (const { tag, invalid, r } of results) {
      if (invalid ? !(r.status >= 400 && r.status < 500) : ![200, 412].includes(r.status)) bad.push(`${tag}${invalid ? ' (invalid entry)' : ''}: ${show(r)}`);
    }
    assert.deepEqual(bad, [], 'transaction answers (200 or 412; 4xx with an invalid entry)');
    const committed = results.filter((x) => x.r.status === 200).map((x) => x.tag);
    assert.ok(committed.length >= 1, 'at least one racing transaction committed');
    const presence = async (srv, type, tag) => {
      const s = await send(srv, 'GET', `/fhir/${type}?identifier=${encodeURIComponent(`${SYS}|${tag}`)}`);
      assert.equal(s.status, 200, show(s));
      return (s.json.entry || []).filter((e) => e.search.mode === 'match').map((e) => e.resource);
    };
    for (const { tag, r, i } of results) {
      const other = i < PER_SERVER ? pair.b : pair.a;
      const pats = await presence(other, 'Patient', tag);
      const obs = await presence(other, 'Observation', tag);
      if (r.status === 200) {
        assert.equal(pats.length, 1, `committed ${tag}: Patient`);
        assert.equal(obs.length, 1, `committed ${tag}: Observation`);
        assert.equal(obs[0].subject.reference, `Patient/${pats[0].id}`, `committed ${tag}: urn:uuid reference rewritten`);
      } else {
        assert.equal(pats.length + obs.length, 0, `failed ${tag} (${r.status}) left ${pats.length} Patient and ${obs.length} Observation behind`);
      }
    }
    // the shared Basic has one version per committed transaction, each holding that transaction's tag
    const { entries } = await allPages(pair.b, `/fhir/Basic/${shared}/_history?_count=1000`);
    const tags = entries.map((e) => e.resource.code.text).reverse();
    assert.equal(tags[0], 'start');
    assert.deepEqual(tags.slice(1).sort(), committed.sort(), 'the shared Basic\'s versions are exactly the committed transactions\' PUTs');
    assert.deepEqual(entries.map((e) => Number(e.resource.meta.versionId)), Array.from({ length: entries.length }, (_, k) => entries.length - k));
  });

  it('plain creates through both processes: 320 distinct ids, all readable through the other process', { timeout: 300000 }, async () => {
    const run = newId('plain');
    const made = [];
    await Promise.all(clients(pair).map(async ({ i, srv, other }) => {
      const fhir = client(srv);
      for (let k = 0; k < 10; k++) {
        const r = await fhir.create({ resourceType: 'Basic', body: { resourceType: 'Basic', identifier: [{ system: SYS, value: run }], code: { text: `${i}-${k}` } } });
        made.push({ r, other });
      }
    }));
    assert.equal(new Set(made.map((m) => m.r.id)).size, made.length, 'every create got its own id');
    const bad = [];
    await Promise.all(clients(pair).map(async ({ i }) => {
      for (let k = i; k < made.length; k += 2 * PER_SERVER) {
        const { r, other } = made[k];
        const g = await send(other, 'GET', `/fhir/Basic/${r.id}`);
        if (g.status !== 200) bad.push(`Basic/${r.id}: ${show(g)}`);
        else assert.deepEqual(g.json, r, `Basic/${r.id} read through the other process differs from what its create returned`);
      }
    }));
    assert.deepEqual(bad, []);
    for (const srv of pair.both) {
      const { entries } = await allPages(srv, `/fhir/Basic?identifier=${encodeURIComponent(`${SYS}|${run}`)}&_count=100`, { type: 'searchset' });
      assert.equal(entries.length, made.length, `search through port ${srv.port}`);
    }
  });
});

describe('two Bron processes started at once on an empty database', { skip }, () => {
  it('both come up and serve (the schema is made once)', { timeout: 120000 }, async () => {
    const dir = tempDir('pg-twostart-');
    storeUrl(dir); // the database, empty
    const [a, b] = await Promise.allSettled([startServer({ dataDir: dir }), startServer({ dataDir: dir })]);
    try {
      assert.equal(a.status, 'fulfilled', a.reason && a.reason.message);
      assert.equal(b.status, 'fulfilled', b.reason && b.reason.message);
      const w = await send(a.value, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'twostart' } });
      assert.equal(w.status, 201, show(w));
      assert.equal((await send(b.value, 'GET', `/fhir/Basic/${w.json.id}`)).status, 200);
    } finally {
      for (const s of [a, b]) if (s.status === 'fulfilled') await s.value.stop();
      removeStore(dir);
    }
  });
});

describe('bron migrate and the schema version', { skip }, () => {
  const dirs = [];
  after(() => { for (const d of dirs) removeStore(d); });
  const fresh = () => {
    const d = tempDir('pg-migrate-');
    dirs.push(d);
    return { dir: d, url: storeUrl(d) };
  };
  const dbVersion = (url) => Number(pgSql(pgDbName(url), 'SELECT max(version) FROM bron_schema'));

  it('bron migrate --store URL creates the schema on a new database, says its version, and is idempotent', { timeout: 120000 }, async () => {
    const { dir, url } = fresh();
    const r = await run(['migrate', '--store', url]);
    assertCleanStderr(r.stderr);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const m = /schema version (\d+)/.exec(r.stdout + r.stderr);
    assert.ok(m, `no "schema version N" in the output:\n${r.stdout}\n${r.stderr}`);
    assert.equal(dbVersion(url), Number(m[1]), 'bron_schema holds the version migrate printed');
    const again = await run(['migrate', '--store', url]);
    assert.equal(again.code, 0, `second migrate: exit ${again.code}\n${again.stderr}`);
    assert.match(again.stdout + again.stderr, new RegExp(`schema version ${m[1]}\\b`));
    const srv = await startServer({ dataDir: dir });
    try {
      const w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'migrated' } });
      assert.equal(w.status, 201, show(w));
    } finally {
      await srv.stop();
    }
  });

  it('bron serve on an empty database makes the same schema version as migrate', { timeout: 120000 }, async () => {
    const a = fresh();
    const r = await run(['migrate', '--store', a.url]);
    assert.equal(r.code, 0, r.stderr);
    const b = fresh();
    const srv = await startServer({ dataDir: b.dir });
    await srv.stop();
    assert.equal(dbVersion(b.url), dbVersion(a.url));
  });

  it('bron migrate --data DIR (SQLite) says its schema version too', { timeout: 60000 }, async () => {
    const dir = tempDir('pg-migrate-sqlite-');
    dirs.push(dir);
    const r = await run(['migrate', '--data', dir]);
    assertCleanStderr(r.stderr);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /schema version \d+/);
  });

  it('a schema version this bron does not know: serve and migrate refuse with a message, non-zero', { timeout: 120000 }, async () => {
    const { url } = fresh();
    const m = await run(['migrate', '--store', url]);
    assert.equal(m.code, 0, m.stderr);
    pgSql(pgDbName(url), 'UPDATE bron_schema SET version = 999');
    const s = await run(['serve', '--bind', '127.0.0.1', '--port', String(await freePort()), '--open', '--store', url], 30000);
    assertCleanStderr(s.stderr);
    assert.equal(s.killed, false, `bron serve on schema version 999 was still running after 30 s\n${s.stderr}`);
    assert.equal(s.signal, null, `killed by ${s.signal}`);
    assert.notEqual(s.code, 0, 'bron serve started on schema version 999');
    assert.match(s.stderr, /schema version/, `stderr: ${s.stderr}`);
    const again = await run(['migrate', '--store', url]);
    assertCleanStderr(again.stderr);
    assert.notEqual(again.code, 0, 'bron migrate accepted schema version 999');
    assert.match(again.stderr, /schema version/, `stderr: ${again.stderr}`);
    assert.equal(Number(pgSql(pgDbName(url), 'SELECT max(version) FROM bron_schema')), 999, 'migrate left an unknown schema alone');
  });
});

describe('store configuration and /health', { skip }, () => {
  it('bron serve --help mentions --store', async () => {
    const r = await run(['serve', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout + r.stderr, /--store/);
  });

  it('GET /health answers 200 {"status":"pass","store":"postgresql"}', async () => {
    const srv = await startServer();
    try {
      const r = await srv.request('GET', '/health');
      assert.equal(r.status, 200, show(r));
      assert.match(r.headers['content-type'] || '', /json/);
      assert.equal(r.json.status, 'pass');
      assert.equal(r.json.store, 'postgresql');
    } finally {
      await srv.stop();
    }
  });

  it('GET /health on a SQLite store (--data) answers "store":"sqlite"', async () => {
    const dir = tempDir('pg-health-sqlite-');
    const srv = await startServer({ store: false, args: ['--data', dir] });
    try {
      const r = await srv.request('GET', '/health');
      assert.equal(r.status, 200, show(r));
      assert.deepEqual({ status: r.json.status, store: r.json.store }, { status: 'pass', store: 'sqlite' });
    } finally {
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('"store = URL" in the --config file selects the database', { timeout: 60000 }, async () => {
    const dir = tempDir('pg-config-');
    const url = storeUrl(dir);
    const conf = path.join(dir, 'bron.conf');
    fs.writeFileSync(conf, `store = ${url}\nthreads = 2\n`);
    try {
      const srv = await startServer({ store: false, args: ['--config', conf] });
      let id;
      try {
        const h = await srv.request('GET', '/health');
        assert.equal(h.status, 200, show(h));
        assert.equal(h.json.store, 'postgresql');
        const w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'from config' } });
        assert.equal(w.status, 201, show(w));
        id = w.json.id;
      } finally {
        await srv.stop();
      }
      assert.equal(pgSql(pgDbName(url), 'SELECT 1'), '1');
      // the same database through --store sees the resource
      const again = await startServer({ dataDir: dir });
      try {
        assert.equal((await send(again, 'GET', `/fhir/Basic/${id}`)).status, 200);
      } finally {
        await again.stop();
      }
    } finally {
      removeStore(dir);
    }
  });
});

// --- the database stopped and started under load ------------------------

function cluster(...args) {
  const r = spawnSync('bash', [CLUSTER_SH, ...args], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`tests/pg/cluster.sh ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

const DOWN_ANSWER_MS = 12000; // "within about 10 s"

/** A 503 that says why: OperationOutcome with a "transient" issue and Retry-After. */
function check503(r, what) {
  assertOutcome(r, 503, what);
  assert.ok(r.json.issue.some((i) => i.code === 'transient'), `${what}: 503 without a "transient" issue: ${r.text.slice(0, 300)}`);
  assert.ok(r.headers['retry-after'] !== undefined, `${what}: 503 without Retry-After`);
  assert.match(String(r.headers['retry-after']), /^\d+$|GMT$/, `${what}: Retry-After ${r.headers['retry-after']}`);
}

describe('the database stopped and started under load', { skip }, () => {
  // a cluster of its own, so that stopping it disturbs no other test
  let dir;
  let srv;
  before(() => {
    dir = fs.mkdtempSync('/tmp/bron-pg.');
    cluster('start', dir);
    cluster('createdb', dir, 'bron_down');
  });
  after(async () => {
    if (srv && !srv.stopped) await srv.crash().catch(() => {});
    if (dir) {
      try { cluster('destroy', dir); } catch { fs.rmSync(dir, { recursive: true, force: true }); }
    }
  });

  it('503 OperationOutcome with Retry-After within ~10 s while down, recovery without restart, nothing acknowledged lost', { timeout: 300000 }, async (t) => {
    const url = cluster('url', dir, 'bron_down');
    srv = await startServer({ store: false, args: ['--store', url] });
    const h0 = await srv.request('GET', '/health');
    assert.equal(h0.status, 200, show(h0));

    const acked = []; // { id, marker } of every 201
    const log = []; // { op, t0, t1, status, r, error }
    let stop = false;
    const timed = async (op, fn) => {
      const t0 = Date.now();
      let r;
      let error;
      try { r = await fn(); } catch (e) { error = e.message; }
      const e = { op, t0, t1: Date.now(), status: r && r.status, r, error };
      log.push(e);
      return e;
    };
    const writer = async (w) => {
      for (let k = 0; !stop; k++) {
        const marker = `w${w}-${k}`;
        const e = await timed('POST /fhir/Basic', () => send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: marker } }, {}, { timeout: 30000 }));
        if (e.status === 201) acked.push({ id: e.r.json.id, marker });
        else await sleep(100);
      }
    };
    const reader = async () => {
      while (!stop) {
        const a = acked[Math.floor(Math.random() * acked.length)];
        const e = a ? await timed('GET /fhir/Basic/id', () => send(srv, 'GET', `/fhir/Basic/${a.id}`, undefined, {}, { timeout: 30000 }))
          : await timed('GET /fhir/Basic?_count=5', () => send(srv, 'GET', '/fhir/Basic?_count=5', undefined, {}, { timeout: 30000 }));
        if (e.status !== 200) await sleep(100);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(writer).concat([reader(), reader()]));
    let restarted = false;
    let downFrom;
    let downUntil;
    let recoveredAt;
    try {
      await sleep(1500);
      const before = acked.length;
      assert.ok(before > 0, 'no write succeeded before the database was stopped');

      cluster('stop', dir); // pg_ctl stop -m fast
      downFrom = Date.now();
      // probes while down: each answers 503 within ~10 s
      const probes = [
        ['GET', '/health'], ['POST', '/fhir/Patient'], ['GET', '/fhir/Patient?_count=1'],
        ['GET', `/fhir/Basic/${acked[0].id}`], ['POST', '/fhir'],
      ];
      for (const [method, p] of probes) {
        const body = method !== 'POST' ? undefined : p === '/fhir' ? { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Basic', code: { text: 'tx' } }, request: { method: 'POST', url: 'Basic' } }] } : { resourceType: 'Patient' };
        const e = await timed(`${method} ${p} (probe)`, () => send(srv, method, p, body, {}, { timeout: 30000 }));
        assert.ok(!e.error, `${method} ${p} while the database is down: ${e.error}`);
        assert.ok(e.t1 - e.t0 < DOWN_ANSWER_MS, `${method} ${p} while the database is down took ${e.t1 - e.t0} ms`);
        if (p === '/health') {
          assertOutcome(e.r, 503, 'GET /health while the database is down');
        } else {
          check503(e.r, `${method} ${p} while the database is down`);
        }
      }
      while (Date.now() - downFrom < 4000) await sleep(200);
      downUntil = Date.now();
      cluster('restart', dir);
      restarted = true;
      const upAt = Date.now();
      // recovery: /health 200 and a write 201, without restarting bron
      for (;;) {
        const h = await timed('GET /health (recovery)', () => srv.request('GET', '/health', { timeout: 30000 }));
        const w = h.status === 200 ? await timed('POST /fhir/Basic (recovery)', () => send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'recovered' } }, {}, { timeout: 30000 })) : null;
        if (w && w.status === 201) { recoveredAt = Date.now(); acked.push({ id: w.r.json.id, marker: 'recovered' }); break; }
        assert.ok(Date.now() - upAt < 30000, `not recovered 30 s after the database came back: /health ${h.status}, POST ${w && show(w.r)}`);
        await sleep(250);
      }
      assert.equal(srv.exitInfo(), null, 'bron exited while the database was down');
      await sleep(3000); // load after recovery
    } finally {
      stop = true;
      await load;
      if (!restarted) { try { cluster('restart', dir); } catch { /* reported by after() */ } }
    }

    const ms = (l) => (l.length ? Math.max(...l.map((e) => e.t1 - e.t0)) : 0);
    const downLog = log.filter((e) => e.t0 >= downFrom && e.t1 <= downUntil);
    t.diagnostic(`${log.length} requests, ${acked.length} creates acknowledged; while down: ${downLog.length} requests, `
      + `${downLog.filter((e) => e.status === 503).length} answered 503, slowest ${ms(downLog)} ms; `
      + `recovered ${recoveredAt - downUntil} ms after the restart began; `
      + `503s after recovery: ${log.filter((e) => e.t0 >= recoveredAt && e.status === 503).length}`);
    // every request answered, and in time
    const slow = log.filter((e) => e.error || e.t1 - e.t0 >= DOWN_ANSWER_MS);
    assert.deepEqual(slow.map((e) => `${e.op} at +${e.t0 - downFrom} ms: ${e.error || `${e.t1 - e.t0} ms`}`), [], 'requests that hung or failed without an answer');
    // only 200/201/503, and every 503 explained
    const odd = log.filter((e) => ![200, 201, 503].includes(e.status));
    assert.deepEqual(odd.map((e) => `${e.op} at +${e.t0 - downFrom} ms: ${show(e.r)}`), [], 'answers other than 200, 201 or 503');
    for (const e of log.filter((x) => x.status === 503 && !x.op.startsWith('GET /health'))) check503(e.r, `${e.op} at +${e.t0 - downFrom} ms`);
    // while down, nothing succeeds
    const whileDown = log.filter((e) => e.t0 >= downFrom && e.t1 <= downUntil);
    assert.ok(whileDown.length >= 5, `only ${whileDown.length} requests while the database was down`);
    assert.deepEqual(whileDown.filter((e) => e.status !== 503).map((e) => `${e.op} at +${e.t0 - downFrom} ms: ${show(e.r)}`), [], 'answers other than 503 while the database was down');
    // after recovery (and a 1 s grace for connections still being replaced), everything succeeds
    const afterUp = log.filter((e) => e.t0 >= recoveredAt + 1000);
    assert.ok(afterUp.length >= 10, `only ${afterUp.length} requests after recovery`);
    assert.deepEqual(afterUp.filter((e) => e.status !== 200 && e.status !== 201).map((e) => `${e.op} at +${e.t0 - recoveredAt} ms after recovery: ${show(e.r)}`), [], 'failures after recovery');
    // every acknowledged write is there
    const lost = [];
    await pool(acked, 8, async (a) => {
      const g = await send(srv, 'GET', `/fhir/Basic/${a.id}`);
      if (g.status !== 200 || g.json.code.text !== a.marker) lost.push(`Basic/${a.id} (${a.marker}): ${show(g)}`);
    });
    assert.deepEqual(lost, [], `of ${acked.length} acknowledged creates`);
    const h = await srv.request('GET', '/health');
    assert.equal(h.status, 200, show(h));
    await srv.stop();
  });
});

describe('searches on freshly loaded data (before PostgreSQL has statistics)', { skip }, () => {
  const files = syntheaFiles(5);
  it('two-level chains and nested _has answer 200 right after the load, as after ANALYZE', {
    skip: files ? false : `no Synthea sample in ${SYNTHEA_DIR}`, timeout: 300000,
  }, async (t) => {
    const srv = await startServer();
    try {
      for (const f of files) {
        const r = await send(srv, 'POST', '/fhir', zlib.gunzipSync(fs.readFileSync(f)).toString('utf8'));
        assert.equal(r.status, 200, `${path.basename(f)}: ${show(r)}`);
      }
      // values that exist in the sample: a family name and an Observation code
      const pats = await send(srv, 'GET', '/fhir/Patient?_count=1&_sort=family');
      const family = pats.json.entry[0].resource.name[0].family;
      const obs = await send(srv, 'GET', '/fhir/Observation?_count=1&_sort=_id');
      const code = obs.json.entry[0].resource.code.coding[0].code;
      const queries = [
        `Observation?encounter.subject:Patient.name=${encodeURIComponent(family)}&_count=500`,
        `Patient?_has:Encounter:patient:_has:Observation:encounter:code=${encodeURIComponent(code)}&_count=500`,
        `Encounter?subject.name=${encodeURIComponent(family)}&_count=500`,
      ];
      const ask = async () => {
        const out = [];
        for (const q of queries) { // one at a time
          const t0 = Date.now();
          const r = await send(srv, 'GET', `/fhir/${q}`, undefined, {}, { timeout: 60000 });
          out.push({ q, r, ms: Date.now() - t0, ids: r.status === 200 ? (r.json.entry || []).map((e) => e.resource.id).sort() : null });
        }
        return out;
      };
      const fresh = await ask();
      pgSql(pgDbName(storeUrl(srv.dataDir)), 'ANALYZE');
      const analyzed = await ask();
      t.diagnostic(`fresh: ${fresh.map((a) => `${a.r.status} in ${a.ms} ms`).join(', ')}; after ANALYZE: ${analyzed.map((a) => `${a.r.status} in ${a.ms} ms`).join(', ')}`);
      for (const a of analyzed) assert.equal(a.r.status, 200, `${a.q} after ANALYZE: ${show(a.r)}`);
      assert.deepEqual(fresh.filter((a) => a.r.status !== 200).map((a) => `${a.q}: ${show(a.r)} after ${a.ms} ms`), [], 'searches right after the load');
      for (let k = 0; k < queries.length; k++) assert.deepEqual(fresh[k].ids, analyzed[k].ids, queries[k]);
      assert.ok(analyzed.every((a) => a.ids.length > 0), 'the searches match something');
    } finally {
      await srv.stop();
    }
  });
});

describe('PostgreSQL mode', { skip }, () => {
  it('the test servers really run on PostgreSQL', async () => {
    const srv = await startServer();
    try {
      assert.ok(srv.argv.includes('--store') && !srv.argv.includes('--data'), srv.argv.join(' '));
      const h = await request(srv.port, 'GET', '/health');
      assert.equal(h.json && h.json.store, 'postgresql', show(h));
      assert.ok(isFhirJsonType((await send(srv, 'GET', '/fhir/metadata')).headers['content-type']));
    } finally {
      await srv.stop();
    }
  });
});

describe('the database hanging (its processes stopped with SIGSTOP)', { skip }, () => {
  // a database that accepts connections but never answers (a frozen host, a
  // network partition): requests must still end, with a 503, in ~10 s
  let dir;
  let srv;
  let paused = [];
  const resume = () => {
    for (const pid of paused) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    paused = [];
  };
  before(() => {
    dir = fs.mkdtempSync('/tmp/bron-pg.');
    cluster('start', dir);
    cluster('createdb', dir, 'bron_hang');
  });
  after(async () => {
    resume();
    if (srv && !srv.stopped) await srv.crash().catch(() => {});
    if (dir) {
      try { cluster('destroy', dir); } catch { fs.rmSync(dir, { recursive: true, force: true }); }
    }
  });

  it('requests answer 503 within ~10 s instead of hanging; the server recovers when the database resumes', { timeout: 300000 }, async (t) => {
    srv = await startServer({ store: false, args: ['--store', cluster('url', dir, 'bron_hang')] });
    const acked = [];
    for (let k = 0; k < 20; k++) {
      const w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: `before ${k}` } });
      assert.equal(w.status, 201, show(w));
      acked.push({ id: w.json.id, marker: `before ${k}` });
    }
    const postmaster = Number(fs.readFileSync(path.join(dir, 'data/postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    const probes = [
      ['POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'while frozen' } }],
      ['GET', `/fhir/Basic/${acked[0].id}`], ['GET', '/fhir/Basic?_count=3'], ['GET', '/health'],
    ];
    const problems = [];
    try {
      for (const pid of [postmaster, ...children]) { process.kill(pid, 'SIGSTOP'); paused.push(pid); }
      const t0 = Date.now();
      // twice: the requests that find the pool's connections hung, then new ones
      const answers = [];
      for (let round = 0; round < 2; round++) {
        answers.push(...await Promise.all(probes.map(async ([method, p, body]) => {
          const s = Date.now();
          try {
            const r = await send(srv, method, p, body, {}, { timeout: 20000 });
            return { what: `${method} ${p} (round ${round})`, r, ms: Date.now() - s };
          } catch (e) {
            return { what: `${method} ${p} (round ${round})`, error: e.message, ms: Date.now() - s };
          }
        })));
      }
      t.diagnostic(`frozen for ${Date.now() - t0} ms; answers: ${answers.map((a) => `${a.what} ${a.r ? a.r.status : a.error} in ${a.ms} ms`).join('; ')}`);
      for (const a of answers) {
        if (a.error || a.ms >= DOWN_ANSWER_MS) {
          problems.push(`${a.what} while the database hung: ${a.error || `${a.r.status} after ${a.ms} ms`}`);
          continue;
        }
        try {
          if (a.what.startsWith('GET /health')) assertOutcome(a.r, 503, a.what);
          else check503(a.r, a.what);
        } catch (e) { problems.push(e.message); }
      }
    } finally {
      resume();
    }
    const upAt = Date.now();
    for (;;) {
      const w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'after' } }, {}, { timeout: 40000 });
      if (w.status === 201) { acked.push({ id: w.json.id, marker: 'after' }); break; }
      if (Date.now() - upAt > 30000) { problems.push(`not recovered 30 s after the database resumed: ${show(w)}`); break; }
      await sleep(250);
    }
    t.diagnostic(`first write after the database resumed: ${Date.now() - upAt} ms`);
    for (const a of acked) {
      const g = await send(srv, 'GET', `/fhir/Basic/${a.id}`);
      if (g.status !== 200 || g.json.code.text !== a.marker) problems.push(`acknowledged Basic/${a.id} after the database resumed: ${show(g)}`);
    }
    const h = await srv.request('GET', '/health');
    if (h.status !== 200) problems.push(`GET /health after the database resumed: ${show(h)}`);
    assert.deepEqual(problems, []);
    await srv.stop();
  });

});
