// bron backup / bron backup --verify / bron restore of the embedded store
// (SQLite), over HTTP and on the bytes:
//   - a backup taken while 8 clients write (creates, updates, transaction
//     Bundles; every acknowledged write remembered with its version and the
//     time of its acknowledgement) restores into a fresh directory as one
//     consistent snapshot: every write acknowledged before the backup began
//     is there with its version or a later one, nothing that was never
//     acknowledged, nothing begun after the backup ended, each writer's
//     writes a prefix of its sequence, a transaction's entries all there or
//     all absent, and no write missing that was acknowledged before one that
//     is there began; searches agree with the reads; bron audit verify passes;
//   - the restored server: read, vread, history, search, _include, a deleted
//     resource's 410, and create/update/delete; bron audit verify after them;
//   - bron backup --verify with the key (every page) and without it (the
//     checksums); an encrypted store's backup holds none of its names, an
//     --unencrypted one does;
//   - tampering: a flipped byte in bron.db or bron.db-key fails --verify
//     (exit 1, naming the file) and restore refuses it; a flipped byte with a
//     doctored manifest passes the checksums and fails the page check; no
//     manifest, exit 1;
//   - restore refuses a directory a server has open and a store without
//     --force; with --force it replaces it (and no WAL of the old store is
//     replayed onto the copy);
//   - bron backup --store URL (PostgreSQL) exits 2 and points to pg_dump.
// In PostgreSQL mode (the api-pg tier) only the last runs: bron backup is for
// the embedded store.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  startServer, tempDir, removeStore, storeUrl, pool, PG_MODE, BRON_BIN, REPO_ROOT, assertCleanStderr,
} from './lib/server.mjs';
import { send, assertOutcome, allPages, etagVersion } from './lib/fhir.mjs';
import { syntheaFiles } from './import-check.mjs';

const SYNTHEA_BUNDLES = 20; // ~5,400 resources, a ~31 MB store: the copy takes a while
const WRITERS = 8;
const SYS = 'urn:test:bk'; // the identifier system (and Observation code) of the writers' resources
const MARKER = 'Quirijntje-Backupvanger'; // a name that must not be in an encrypted backup

const dirs = [];
const running = [];
function dir(prefix) {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
after(async () => {
  for (const s of running) if (!s.stopped) { try { await s.crash(); } catch { /* reported by its test */ } }
  for (const d of dirs) removeStore(d);
});

async function start(opts) {
  const s = await startServer(opts);
  running.push(s);
  return s;
}

/** Run bron to completion with extra env (null deletes a variable); { code, signal, stdout, stderr }. */
function run(args, env = {}, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const e = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === null) delete e[k];
      else e[k] = v;
    }
    const p = spawn(BRON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      assertCleanStderr(stderr);
      resolve({ code, signal, stdout, stderr, out: stdout + stderr });
    });
  });
}
const NO_KEY = { BRON_KEY_FILE: null, BRON_KEY: null };

/** bron backup --data DIR BACKUP (the test key from the environment); asserts success. */
async function backup(data, to, args = []) {
  const r = await run(['backup', '--data', data, ...args, to]);
  assert.equal(r.code, 0, `bron backup: ${r.out}`);
  assert.match(r.stderr, /manifest\.json written/);
  return r;
}

function flipByte(file, at) {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] ^= 0x10;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

function contains(file, s) {
  return fs.readFileSync(file).includes(Buffer.from(s, 'utf8'));
}

async function ok(srv, method, p, body, want, headers = {}) {
  const r = await send(srv, method, p, body, headers);
  const statuses = Array.isArray(want) ? want : [want];
  assert.ok(statuses.includes(r.status), `${method} ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

/** `total` of a _summary=count search. */
async function countOf(srv, query) {
  const r = await ok(srv, 'GET', `/fhir/${query}${query.includes('?') ? '&' : '?'}_summary=count`, undefined, 200);
  assert.equal(typeof r.json.total, 'number', `${query}: no total`);
  return r.json.total;
}

/** "Type/id/_history/N" (relative or absolute) -> { ref, version }. */
function parseLocation(loc) {
  const m = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/([0-9]+)$/.exec(String(loc));
  assert.ok(m, `not a versioned location: ${loc}`);
  return { ref: `${m[1]}/${m[2]}`, version: Number(m[3]) };
}

const patientOf = (label, id) => ({
  resourceType: 'Patient', ...(id ? { id } : {}),
  identifier: [{ system: SYS, value: label }], name: [{ family: 'BkWriter', given: [label] }],
});
const observationOf = (label, subject, id) => ({
  resourceType: 'Observation', ...(id ? { id } : {}), status: 'final',
  identifier: [{ system: SYS, value: label }], code: { coding: [{ system: SYS, code: 'w' }] },
  subject: { reference: subject }, valueString: label,
});

describe('bron backup and restore of the embedded store', { skip: PG_MODE ? 'bron backup copies the embedded store (SQLite); PostgreSQL is backed up with pg_dump (only the --store refusal runs in this mode)' : false }, () => {
  let src; // the source server (encrypted with the test key, Synthea + known data)
  let srcDir;
  let bk; // the backup taken under load
  let restoredDir;
  let restored; // the server on the restored copy
  const known = {}; // ids of the known data written before the load

  before(async () => {
    srcDir = dir('bk-src-');
    const files = syntheaFiles(SYNTHEA_BUNDLES);
    if (files) {
      const im = await run(['import', '--data', srcDir, ...files], {}, 300000);
      assert.equal(im.code, 0, `bron import: ${im.out.slice(-2000)}`);
    }
    src = await start({ dataDir: srcDir });
    // known data for the checks of the restored server
    await ok(src, 'PUT', '/fhir/Patient/bk-p1', { resourceType: 'Patient', id: 'bk-p1', name: [{ family: MARKER, given: ['Eerste'] }], gender: 'female' }, 201);
    await ok(src, 'PUT', '/fhir/Patient/bk-p1', { resourceType: 'Patient', id: 'bk-p1', name: [{ family: MARKER, given: ['Tweede'] }], gender: 'female' }, 200);
    for (const o of ['bk-o1', 'bk-o2']) {
      await ok(src, 'PUT', `/fhir/Observation/${o}`, { resourceType: 'Observation', id: o, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/bk-p1' }, valueQuantity: { value: 60, unit: '/min' } }, 201);
    }
    await ok(src, 'PUT', '/fhir/Patient/bk-gone', { resourceType: 'Patient', id: 'bk-gone', name: [{ family: 'Weg' }] }, 201);
    await ok(src, 'DELETE', '/fhir/Patient/bk-gone', undefined, [200, 204]);
    const any = await ok(src, 'GET', '/fhir/Patient?_count=10&_sort=_id', undefined, 200);
    known.synthea = files ? any.json.entry.map((e) => e.resource.id).find((id) => !id.startsWith('bk-')) : null;
  });

  it('a backup taken while 8 clients write restores to one consistent snapshot', { timeout: 300000 }, async (t) => {
    const ops = []; // every acknowledged write: { w, seq, label, kind, writes: [{ref, version}], startedAt, ackedAt }
    const written = new Map(); // "ref/version" -> label of the write that made it
    const errors = [];
    let stop = false;
    const writer = async (w) => {
      const own = { Patient: [], Observation: [] }; // { id, version }
      for (let seq = 0; !stop; seq++) {
        const label = `w${w}-op${seq}`;
        const startedAt = performance.now();
        let writes;
        let kind;
        try {
          if (seq % 5 === 0) {
            kind = 'transaction';
            const uuid = `urn:uuid:${crypto.randomUUID()}`;
            const entry = [
              { fullUrl: uuid, resource: patientOf(label), request: { method: 'POST', url: 'Patient' } },
              { resource: observationOf(label, uuid), request: { method: 'POST', url: 'Observation' } },
            ];
            const upd = own.Patient[seq % Math.max(1, own.Patient.length)];
            if (upd) entry.push({ resource: patientOf(label, upd.id), request: { method: 'PUT', url: `Patient/${upd.id}` } });
            const r = await send(src, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry });
            if (r.status !== 200) throw new Error(`transaction: ${r.status} ${r.text.slice(0, 300)}`);
            writes = r.json.entry.map((e) => parseLocation(e.response.location));
          } else if (seq % 5 === 1 || seq % 5 === 2 || !own.Observation.length) {
            kind = 'create';
            const type = seq % 5 === 1 || !own.Patient.length ? 'Patient' : 'Observation';
            const body = type === 'Patient' ? patientOf(label) : observationOf(label, `Patient/${own.Patient[0].id}`);
            const r = await send(src, 'POST', `/fhir/${type}`, body, { prefer: 'return=minimal' });
            if (r.status !== 201) throw new Error(`POST ${type}: ${r.status} ${r.text.slice(0, 300)}`);
            writes = [parseLocation(r.headers.location)];
          } else {
            kind = 'update';
            const type = seq % 2 ? 'Patient' : 'Observation';
            const target = own[type][(seq * 7) % own[type].length];
            const body = type === 'Patient' ? patientOf(label, target.id) : observationOf(label, `Patient/${own.Patient[0].id}`, target.id);
            const r = await send(src, 'PUT', `/fhir/${type}/${target.id}`, body, { prefer: 'return=minimal' });
            if (r.status !== 200) throw new Error(`PUT ${type}/${target.id}: ${r.status} ${r.text.slice(0, 300)}`);
            writes = [{ ref: `${type}/${target.id}`, version: Number(etagVersion(r.headers.etag)) }];
          }
        } catch (e) {
          errors.push(`${label}: ${e.message}`);
          return;
        }
        const ackedAt = performance.now();
        for (const x of writes) {
          const [type, id] = x.ref.split('/');
          const mine = own[type].find((o) => o.id === id);
          if (mine) {
            assert.equal(x.version, mine.version + 1, `${label}: ${x.ref} went from ${mine.version} to ${x.version}`);
            mine.version = x.version;
          } else {
            assert.equal(x.version, 1, `${label}: a new ${x.ref} at version ${x.version}`);
            own[type].push({ id, version: 1 });
          }
          written.set(`${x.ref}/${x.version}`, label);
        }
        ops.push({ w, seq, label, kind, writes, startedAt, ackedAt });
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    // let the writers get going, then back up while they write
    while (ops.length < 200 && !errors.length) await new Promise((r) => setTimeout(r, 10));
    bk = path.join(dir('bk-'), 'copy');
    const backupStart = performance.now();
    const br = await run(['backup', '--data', srcDir, bk]);
    const backupEnd = performance.now();
    const duringBackup = ops.filter((o) => o.ackedAt > backupStart).length;
    stop = true;
    await Promise.all(writers);
    assert.deepEqual(errors, [], 'a writer failed');
    assert.equal(br.code, 0, `bron backup: ${br.out}`);
    assert.match(br.stderr, /bron backup: \[#+\.*\] +[0-9]+%/, 'no progress on stderr');
    assert.match(br.stderr, /MB in [0-9.]+ s, encrypted, manifest\.json written/);
    const manifest = JSON.parse(fs.readFileSync(path.join(bk, 'manifest.json'), 'utf8'));
    assert.equal(manifest.engine, 'sqlite');
    assert.equal(manifest.encrypted, true);
    assert.deepEqual(manifest.files.map((f) => f.name), ['bron.db', 'bron.db-key']);
    for (const f of manifest.files) {
      const bytes = fs.readFileSync(path.join(bk, f.name));
      assert.equal(f.bytes, bytes.length, f.name);
      assert.equal(f.sha256, crypto.createHash('sha256').update(bytes).digest('hex'), f.name);
    }
    assert.deepEqual(fs.readdirSync(bk).sort(), ['bron.db', 'bron.db-key', 'manifest.json'], 'no -wal or -shm beside the copy');
    t.diagnostic(`${ops.length} writes by ${WRITERS} clients; the backup took ${(backupEnd - backupStart).toFixed(0)} ms, ${duringBackup} writes were acknowledged while it ran`);
    assert.ok(duringBackup > 0, 'no write was acknowledged while the backup ran: the test proves nothing');

    // restore into a fresh directory and serve it with the same key
    restoredDir = path.join(dir('bk-restored-'), 'data');
    const rr = await run(['restore', '--data', restoredDir, bk]);
    assert.equal(rr.code, 0, `bron restore: ${rr.out}`);
    assert.match(rr.stderr, /encrypted: serve it with the same owner's key/);
    assert.deepEqual(fs.readdirSync(restoredDir).sort(), ['bron.db', 'bron.db-key']);
    assert.equal(fs.statSync(path.join(restoredDir, 'bron.db-key')).mode & 0o777, 0o600);
    const av = await run(['audit', 'verify', '--data', restoredDir]);
    assert.equal(av.code, 0, `bron audit verify on the restored store: ${av.out}`);
    assert.match(av.stdout, /^ok: [0-9]+ records/m);
    restored = await start({ dataDir: restoredDir });

    // what the copy holds of every resource the writers touched
    const refs = [...new Set(ops.flatMap((o) => o.writes.map((x) => x.ref)))];
    const have = new Map(); // ref -> version in the copy (0: absent)
    await pool(refs, 8, async (ref) => {
      const r = await send(restored, 'GET', `/fhir/${ref}`);
      if (r.status === 404) { have.set(ref, 0); return; }
      assert.equal(r.status, 200, `GET ${ref} on the restored server: ${r.status} ${r.text.slice(0, 200)}`);
      const v = Number(r.json.meta.versionId);
      assert.equal(r.json.identifier[0].value, written.get(`${ref}/${v}`), `${ref}/_history/${v} holds another write's content (or a version never acknowledged)`);
      have.set(ref, v);
    });
    const present = (o) => o.writes.map((x) => have.get(x.ref) >= x.version);
    const bad = [];
    for (const o of ops) {
      const p = present(o);
      if (p.some((x) => x !== p[0])) bad.push(`${o.label} (${o.kind}): only some of its entries are in the copy`);
      if (o.ackedAt < backupStart && !p[0]) bad.push(`${o.label} was acknowledged before the backup began and is missing`);
      if (o.startedAt > backupEnd && p[0]) bad.push(`${o.label} began after the backup ended and is in it`);
    }
    // each writer's writes in the copy: a prefix of its sequence
    for (let w = 0; w < WRITERS; w++) {
      const seqs = ops.filter((o) => o.w === w).sort((a, b) => a.seq - b.seq);
      const firstMissing = seqs.findIndex((o) => !present(o)[0]);
      if (firstMissing >= 0) {
        const later = seqs.slice(firstMissing).find((o) => present(o)[0]);
        if (later) bad.push(`writer ${w}: ${later.label} is in the copy, the earlier ${seqs[firstMissing].label} is not`);
      }
    }
    // one point in time: nothing missing that was acknowledged before a write in the copy began
    const inCopy = ops.filter((o) => present(o)[0]);
    const latestStart = Math.max(...inCopy.map((o) => o.startedAt));
    for (const o of ops) if (o.ackedAt < latestStart && !present(o)[0]) bad.push(`${o.label} is missing though acknowledged before a write in the copy began`);
    assert.deepEqual(bad.slice(0, 20), [], `${bad.length} inconsistencies`);
    const nIn = inCopy.length;
    t.diagnostic(`the copy holds ${nIn} of the ${ops.length} writes (${ops.filter((o) => o.ackedAt < backupStart).length} acknowledged before the backup began); ${ops.filter((o) => o.kind === 'transaction' && present(o)[0]).length} transactions whole`);
    assert.ok(nIn < ops.length, 'the copy holds the writes made after it too');

    // the searches agree with the reads: no resource the writers never had acknowledged
    const pats = refs.filter((r) => r.startsWith('Patient/') && have.get(r) > 0).length;
    const obs = refs.filter((r) => r.startsWith('Observation/') && have.get(r) > 0).length;
    assert.equal(await countOf(restored, 'Patient?family=BkWriter'), pats);
    assert.equal(await countOf(restored, `Observation?code=${encodeURIComponent(`${SYS}|w`)}`), obs);
    // each resource's history: versions 1..n, nothing else
    for (const ref of refs.filter((r) => have.get(r) > 1).slice(0, 25)) {
      const h = await allPages(restored, `/fhir/${ref}/_history`);
      assert.deepEqual(h.entries.map((e) => Number(e.resource.meta.versionId)), Array.from({ length: have.get(ref) }, (_, i) => have.get(ref) - i), `${ref}/_history`);
    }
    // the types the writers did not touch: as many as in the source
    for (const type of ['Encounter', 'Condition', 'Claim', 'Procedure']) {
      assert.equal(await countOf(restored, type), await countOf(src, type), `${type} count`);
    }
  });

  it('the restored server serves read, vread, history, search and _include, and takes writes', { timeout: 120000 }, async () => {
    assert.ok(restored, 'no restored server (the previous test failed)');
    let r = await ok(restored, 'GET', '/fhir/Patient/bk-p1', undefined, 200);
    assert.equal(r.json.meta.versionId, '2');
    assert.equal(r.json.name[0].given[0], 'Tweede');
    assert.equal(r.headers.etag, 'W/"2"');
    r = await ok(restored, 'GET', '/fhir/Patient/bk-p1/_history/1', undefined, 200);
    assert.equal(r.json.name[0].given[0], 'Eerste');
    const src1 = await ok(src, 'GET', '/fhir/Patient/bk-p1/_history/1', undefined, 200);
    assert.deepEqual(r.json, src1.json, 'vread differs from the source');
    r = await ok(restored, 'GET', '/fhir/Patient/bk-p1/_history', undefined, 200);
    assert.deepEqual(r.json.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    assertOutcome(await send(restored, 'GET', '/fhir/Patient/bk-gone'), 410, 'a deleted Patient');
    r = await ok(restored, 'GET', '/fhir/Patient/bk-gone/_history', undefined, 200);
    assert.deepEqual(r.json.entry.map((e) => e.request.method), ['DELETE', 'POST']); // a create by PUT is listed as POST
    // search, _include
    r = await ok(restored, 'GET', `/fhir/Patient?family=${MARKER}`, undefined, 200);
    assert.deepEqual(r.json.entry.map((e) => e.resource.id), ['bk-p1']);
    r = await ok(restored, 'GET', '/fhir/Observation?subject=Patient/bk-p1&_include=Observation:subject&_sort=_id', undefined, 200);
    assert.deepEqual(r.json.entry.map((e) => [e.search.mode, `${e.resource.resourceType}/${e.resource.id}`]),
      [['match', 'Observation/bk-o1'], ['match', 'Observation/bk-o2'], ['include', 'Patient/bk-p1']]);
    r = await ok(restored, 'GET', '/fhir/Observation?code=http://loinc.org|8867-4&subject:Patient.name=Tweede', undefined, 200);
    assert.equal(r.json.entry.length, 2, 'a chained search');
    if (known.synthea) { // the imported data: a patient's Encounters as on the source
      const q = `/fhir/Encounter?patient=Patient/${known.synthea}&_count=500&_sort=_id`;
      const a = await ok(src, 'GET', q, undefined, 200);
      const b = await ok(restored, 'GET', q, undefined, 200);
      assert.ok(a.json.entry.length > 0);
      assert.deepEqual(b.json.entry.map((e) => e.resource), a.json.entry.map((e) => e.resource));
      r = await ok(restored, 'GET', `/fhir/Patient/${known.synthea}/$everything?_count=1000`, undefined, 200);
      assert.ok(r.json.entry.length > b.json.entry.length);
    }
    // writes on the restored store
    r = await ok(restored, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'NaHerstel' }] }, 201);
    const id = r.json.id;
    r = await ok(restored, 'PUT', `/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'NaHerstel', given: ['Twee'] }] }, 200);
    assert.equal(r.json.meta.versionId, '2');
    r = await ok(restored, 'PUT', '/fhir/Patient/bk-p1', { resourceType: 'Patient', id: 'bk-p1', name: [{ family: MARKER, given: ['Derde'] }] }, 200);
    assert.equal(r.json.meta.versionId, '3');
    await ok(restored, 'DELETE', '/fhir/Observation/bk-o2', undefined, [200, 204]);
    assertOutcome(await send(restored, 'GET', '/fhir/Observation/bk-o2'), 410, 'deleted on the restored server');
    r = await ok(restored, 'GET', '/fhir/Observation?subject=Patient/bk-p1', undefined, 200);
    assert.deepEqual(r.json.entry.map((e) => e.resource.id), ['bk-o1']);
    // the source is not affected
    await ok(src, 'GET', '/fhir/Observation/bk-o2', undefined, 200);
    await restored.stop({ keepData: true });
    const av = await run(['audit', 'verify', '--data', restoredDir]);
    assert.equal(av.code, 0, `bron audit verify after writes on the restored store: ${av.out}`);
  });

  it('bron backup --verify: with the key every page, without it the checksums', { timeout: 60000 }, async () => {
    assert.ok(bk, 'no backup (the first test failed)');
    let r = await run(['backup', '--verify', bk]); // the key from the environment
    assert.equal(r.code, 0, r.out);
    assert.match(r.stdout, /^ok: .* matches its manifest, and every page checks \(opened with the owner's key\)/m);
    r = await run(['backup', '--verify', '--key-file', process.env.BRON_KEY_FILE, bk], NO_KEY);
    assert.equal(r.code, 0, r.out);
    assert.match(r.stdout, /every page checks/);
    r = await run(['backup', '--verify', bk], NO_KEY);
    assert.equal(r.code, 0, r.out);
    assert.match(r.stdout, /^ok: .* matches its manifest \(pages not checked: give --key-file\)/m);
    // a wrong key does not pass
    const wrong = path.join(dir('bk-key-'), 'wrong.key');
    assert.equal((await run(['keygen', '--data-key', wrong])).code, 0);
    r = await run(['backup', '--verify', '--key-file', wrong, bk]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stdout, /^FAILED: /m);
    assert.match(r.out, /the key does not open this store/);
    // an encrypted backup with --unencrypted: told to give the key, not a damaged copy
    r = await run(['backup', '--verify', '--unencrypted', bk]);
    assert.notEqual(r.code, 0, r.out);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /is encrypted: give its key/);
    assert.doesNotMatch(r.out, /FAILED|re-encrypted/);
    // --verify wrote nothing beside the copy
    assert.deepEqual(fs.readdirSync(bk).sort(), ['bron.db', 'bron.db-key', 'manifest.json']);
  });

  it('an encrypted store\'s backup holds none of its names; an --unencrypted one does', { timeout: 60000 }, async () => {
    assert.ok(bk, 'no backup (the first test failed)');
    const r = await ok(src, 'GET', `/fhir/Patient?family=${MARKER}`, undefined, 200);
    assert.equal(r.json.entry.length, 1, 'the name is in the store');
    for (const f of fs.readdirSync(bk)) {
      assert.ok(!contains(path.join(bk, f), MARKER), `${f} of the backup holds the name in the clear`);
      assert.ok(!contains(path.join(bk, f), 'BkWriter'), `${f} of the backup holds a writer's name in the clear`);
    }
    // the same with an unencrypted store: the grep finds it
    const plainDir = dir('bk-plain-src-');
    const plain = await start({ dataDir: plainDir, args: ['--unencrypted'] });
    await ok(plain, 'PUT', '/fhir/Patient/pl1', { resourceType: 'Patient', id: 'pl1', name: [{ family: MARKER }] }, 201);
    const pbk = path.join(dir('bk-plain-'), 'copy');
    let b = await run(['backup', '--data', plainDir, pbk]); // the environment's key: refused
    assert.equal(b.code, 1, b.out);
    assert.match(b.stderr, /is not encrypted: back it up with --unencrypted/);
    assert.ok(!fs.existsSync(path.join(pbk, 'bron.db')), 'a refused backup left a file');
    b = await backup(plainDir, pbk, ['--unencrypted']);
    assert.doesNotMatch(b.stderr, /encrypted,/);
    await plain.stop({ keepData: true });
    assert.ok(contains(path.join(pbk, 'bron.db'), MARKER), 'the name is not in the unencrypted backup: the grep proves nothing');
    assert.ok(!fs.existsSync(path.join(pbk, 'bron.db-key')));
    const m = JSON.parse(fs.readFileSync(path.join(pbk, 'manifest.json'), 'utf8'));
    assert.equal(m.encrypted, false);
    assert.deepEqual(m.files.map((f) => f.name), ['bron.db']);
    let v = await run(['backup', '--verify', '--unencrypted', pbk]);
    assert.equal(v.code, 0, v.out);
    assert.match(v.stdout, /every page checks/);
    // a key in the environment does not make a plain backup fail its check
    v = await run(['backup', '--verify', pbk]);
    assert.equal(v.code, 0, v.out);
    assert.match(v.stdout, /^ok: .*every page checks$/m);
    // a damaged page of a plain backup (the manifest doctored): found by the page check
    const pd = path.join(dir('bk-plain-doctored-'), 'copy');
    fs.cpSync(pbk, pd, { recursive: true });
    const pdb = path.join(pd, 'bron.db');
    const fd = fs.openSync(pdb, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x55), 0, 4096, 4096); // page 2
    fs.closeSync(fd);
    const pm = JSON.parse(fs.readFileSync(path.join(pd, 'manifest.json'), 'utf8'));
    pm.files[0].sha256 = crypto.createHash('sha256').update(fs.readFileSync(pdb)).digest('hex');
    fs.writeFileSync(path.join(pd, 'manifest.json'), JSON.stringify(pm));
    v = await run(['backup', '--verify', '--unencrypted', pd]);
    assert.equal(v.code, 1, `a damaged page passes: ${v.out}`);
    assert.match(v.stdout, /^FAILED: .*the backup does not check/m);
    // restored and served unencrypted
    const to = path.join(dir('bk-plain-restored-'), 'data');
    const rr = await run(['restore', '--data', to, pbk]);
    assert.equal(rr.code, 0, rr.out);
    const again = await start({ dataDir: to, args: ['--unencrypted'] });
    const got = await ok(again, 'GET', '/fhir/Patient/pl1', undefined, 200);
    assert.equal(got.json.name[0].family, MARKER);
    await again.stop({ keepData: true });
  });

  it('a tampered backup fails --verify (exit 1, naming the file) and is not restored; no manifest, exit 1', { timeout: 60000 }, async () => {
    const base = path.join(dir('bk-tamper-'), 'orig');
    await backup(srcDir, base);
    const copyOf = (name) => {
      const d = path.join(path.dirname(base), name);
      fs.cpSync(base, d, { recursive: true });
      return d;
    };
    // a flipped byte in the middle of bron.db
    const t1 = copyOf('flipped-db');
    const db = path.join(t1, 'bron.db');
    const at = Math.floor(fs.statSync(db).size / 2) + 123;
    flipByte(db, at);
    for (const env of [{}, NO_KEY]) {
      const r = await run(['backup', '--verify', t1], env);
      assert.equal(r.code, 1, r.out);
      assert.match(r.stdout, /^FAILED: /m);
      assert.match(r.stderr, /flipped-db\/bron\.db does not match its checksum/);
      assert.doesNotMatch(r.stderr, /bron\.db-key/);
    }
    const target = path.join(dir('bk-tamper-target-'), 'data');
    let r = await run(['restore', '--data', target, t1]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /does not match its manifest; nothing restored/);
    assert.ok(!fs.existsSync(path.join(target, 'bron.db')), 'a store was restored from a tampered backup');
    // the same byte, and the manifest's checksum doctored to match: the
    // checksums pass, the pages (opened with the key) do not
    const m = JSON.parse(fs.readFileSync(path.join(t1, 'manifest.json'), 'utf8'));
    m.files.find((f) => f.name === 'bron.db').sha256 = crypto.createHash('sha256').update(fs.readFileSync(db)).digest('hex');
    fs.writeFileSync(path.join(t1, 'manifest.json'), JSON.stringify(m, null, 2));
    r = await run(['backup', '--verify', t1], NO_KEY);
    assert.equal(r.code, 0, `checksums only: ${r.out}`);
    r = await run(['backup', '--verify', t1]);
    assert.equal(r.code, 1, `the pages of a doctored backup pass: ${r.out}`);
    assert.match(r.stdout, /^FAILED: .*flipped-db/m);
    // the doctored manifest that leaves the changed file out: not accepted either
    delete m.files.find((f) => f.name === 'bron.db').sha256;
    m.files = m.files.filter((f) => f.name !== 'bron.db');
    fs.writeFileSync(path.join(t1, 'manifest.json'), JSON.stringify(m, null, 2));
    for (const env of [{}, NO_KEY]) {
      r = await run(['backup', '--verify', t1], env);
      assert.equal(r.code, 1, `a manifest without bron.db passes: ${r.out}`);
      assert.match(r.stderr, /does not list bron\.db\b/);
    }
    r = await run(['restore', '--data', target, t1]);
    assert.equal(r.code, 1, `restored from a manifest without bron.db: ${r.out}`);
    assert.ok(!fs.existsSync(path.join(target, 'bron.db')));
    // a flipped byte in the key file
    const t2 = copyOf('flipped-key');
    flipByte(path.join(t2, 'bron.db-key'), 20);
    r = await run(['backup', '--verify', t2]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /flipped-key\/bron\.db-key does not match its checksum/);
    r = await run(['restore', '--data', target, t2]);
    assert.equal(r.code, 1, r.out);
    // a missing file
    const t3 = copyOf('no-db');
    fs.rmSync(path.join(t3, 'bron.db'));
    r = await run(['backup', '--verify', t3]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /no-db\/bron\.db is missing/);
    // a truncated copy
    const t4 = copyOf('truncated');
    fs.truncateSync(path.join(t4, 'bron.db'), 8192);
    r = await run(['backup', '--verify', t4], NO_KEY);
    assert.equal(r.code, 1, r.out);
    // no manifest
    const t5 = copyOf('no-manifest');
    fs.rmSync(path.join(t5, 'manifest.json'));
    r = await run(['backup', '--verify', t5]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /no readable manifest/);
    r = await run(['restore', '--data', target, t5]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /nothing restored/);
    // a manifest that is not JSON
    fs.writeFileSync(path.join(t5, 'manifest.json'), '{"files": [');
    r = await run(['backup', '--verify', t5]);
    assert.equal(r.code, 1, r.out);
    assert.ok(!fs.existsSync(path.join(target, 'bron.db')));
    // the original still checks
    r = await run(['backup', '--verify', base]);
    assert.equal(r.code, 0, r.out);
  });

  it('restore refuses a directory a server has open and a store without --force; --force replaces it', { timeout: 120000 }, async () => {
    const bk2 = path.join(dir('bk-force-'), 'copy');
    await backup(srcDir, bk2);
    const target = dir('bk-target-');
    let srv = await start({ dataDir: target });
    await ok(srv, 'PUT', '/fhir/Patient/old-store', { resourceType: 'Patient', id: 'old-store', name: [{ family: 'Oud' }] }, 201);
    let r = await run(['restore', '--data', target, '--force', bk2]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /is in use .*stop it first/);
    await ok(srv, 'GET', '/fhir/Patient/old-store', undefined, 200); // untouched
    await srv.stop({ keepData: true });
    r = await run(['restore', '--data', target, bk2]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /holds a store; give --force to replace it/);
    srv = await start({ dataDir: target });
    await ok(srv, 'GET', '/fhir/Patient/old-store', undefined, 200); // still untouched
    // a write left in the WAL by a crash: it must not be replayed onto the copy
    await ok(srv, 'PUT', '/fhir/Patient/in-wal', { resourceType: 'Patient', id: 'in-wal', name: [{ family: 'Wal' }] }, 201);
    await srv.crash();
    assert.ok(fs.existsSync(path.join(target, 'bron.db-wal')) && fs.statSync(path.join(target, 'bron.db-wal')).size > 0, 'no WAL left by the crash');
    r = await run(['restore', '--data', target, '--force', bk2]);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(fs.readdirSync(target).filter((f) => f.startsWith('bron.db')).sort(), ['bron.db', 'bron.db-key']);
    srv = await start({ dataDir: target });
    assertOutcome(await send(srv, 'GET', '/fhir/Patient/old-store'), 404, 'the replaced store\'s Patient');
    assertOutcome(await send(srv, 'GET', '/fhir/Patient/in-wal'), 404, 'the replaced store\'s WAL');
    const p = await ok(srv, 'GET', '/fhir/Patient/bk-p1', undefined, 200);
    assert.equal(p.json.name[0].family, MARKER);
    assert.equal(await countOf(srv, 'Encounter'), await countOf(src, 'Encounter'));
    await srv.stop({ keepData: true });
    const av = await run(['audit', 'verify', '--data', target]);
    assert.equal(av.code, 0, av.out);
  });

  it('backup refuses a directory holding a backup, a directory with no store, and an encrypted store without its key', { timeout: 60000 }, async () => {
    const to = path.join(dir('bk-twice-'), 'copy');
    await backup(srcDir, to);
    const before = fs.readFileSync(path.join(to, 'manifest.json'), 'utf8');
    let r = await run(['backup', '--data', srcDir, to]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /holds a backup already/);
    assert.equal(fs.readFileSync(path.join(to, 'manifest.json'), 'utf8'), before);
    assert.equal((await run(['backup', '--verify', to])).code, 0, 'the first backup was damaged by the refused second');
    r = await run(['backup', '--data', dir('bk-empty-'), path.join(dir('bk-empty-to-'), 'copy')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /there is no store in/);
    r = await run(['backup', '--data', srcDir, path.join(dir('bk-nokey-'), 'copy')], NO_KEY);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /give --key-file FILE/);
    r = await run(['backup', '--data', srcDir, '--unencrypted', path.join(dir('bk-unenc-'), 'copy')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.stderr, /is encrypted: give its key/);
    r = await run(['backup']);
    assert.equal(r.code, 2, r.out);
    r = await run(['restore']);
    assert.equal(r.code, 2, r.out);
  });

  after(async () => {
    if (src && !src.stopped) await src.stop({ keepData: true });
    if (restored && !restored.stopped) await restored.stop({ keepData: true });
  });
});

describe('bron backup of PostgreSQL', () => {
  it('bron backup --store URL exits 2 and points to pg_dump', async () => {
    const url = PG_MODE ? storeUrl(dir('bk-pg-')) : 'postgresql:///bron?host=/nonexistent';
    const r = await run(['backup', '--store', url, path.join(dir('bk-pg-to-'), 'copy')]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.stderr, /pg_dump/);
    assert.match(r.stderr, /bron export --history/);
  });
});
