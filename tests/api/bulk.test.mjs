// Bulk Data export (issue 9): $export at system, Patient and Group level,
// polling, the files, cancelling, restarts, the consistent snapshot, the
// R4 JSON schema, and the migration with history through the CLI.
//   - kick-off errors: no Prefer, bad _type/_outputFormat/_typeFilter/_since,
//     unknown parameters (and handling=lenient), patient-context and
//     type-limited tokens 403, no token 401;
//   - a system export of a known data set: the manifest, every file, every
//     line, and the (type, id, versionId) set equal to what the server holds;
//   - only the subject (sub) that kicked a job off sees it: others get 404 for
//     its status, its files and DELETE;
//   - _type, _since, _typeFilter, _elements (SUBSETTED); Patient and Group
//     level: only the members' compartments;
//   - cancelling a finished and a running job: its status and files are gone;
//   - a server killed (SIGKILL) or stopped (SIGTERM) in the middle of a job
//     resumes it at the next start and the files come out complete;
//   - 8 clients write while a job runs: the export holds exactly the state as
//     of the kick-off;
//   - every exported line validates against the R4 JSON schema;
//   - bron export --history / bron import --history / bron compare.
// Every server gets --export-dir inside its data dir (in PostgreSQL mode the
// default would be ./exports in the working directory).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import JSONSchemaValidator from '@asymmetrik/fhir-json-schema-validator';
import {
  startServer, mintToken, tempDir, removeStore, runBron, storeArgs, storeUrl, sleep, PG_MODE,
} from './lib/server.mjs';
import { assertOutcome, INSTANT_RE } from './lib/fhir.mjs';

const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const ASYNC = { prefer: 'respond-async' };
const SUBSETTED = 'SUBSETTED';

/** Start a server on dataDir (made if not given) with its exports in dataDir/exports. */
async function startOn(dataDir, { port } = {}) {
  const dir = dataDir || tempDir('bulk-');
  const srv = await startServer({ dataDir: dir, port, args: ['--export-dir', path.join(dir, 'exports')] });
  return srv;
}

/** A request with `token` (undefined: the server's own; null: none). */
function req(srv, method, p, { token, headers = {}, body } = {}) {
  const h = { accept: 'application/fhir+json', ...headers };
  const opts = { headers: h };
  if (token === null) opts.noToken = true;
  else if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) Object.assign(h, FHIR_JSON);
  }
  return srv.request(method, p, opts);
}

/** The path (and query) of an absolute URL the server handed out, checked to be on its base. */
function localPath(srv, url) {
  assert.ok(url.startsWith(`${srv.base}/`), `${url} is not under ${srv.base}`);
  const u = new URL(url);
  return u.pathname + u.search;
}

async function put(srv, r) {
  const res = await req(srv, 'PUT', `/fhir/${r.resourceType}/${r.id}`, { body: r });
  assert.ok([200, 201].includes(res.status), `PUT ${r.resourceType}/${r.id}: ${res.status} ${res.text.slice(0, 300)}`);
  return res.json;
}

async function del(srv, type, id) {
  const res = await req(srv, 'DELETE', `/fhir/${type}/${id}`);
  assert.ok([200, 204].includes(res.status), `DELETE ${type}/${id}: ${res.status} ${res.text.slice(0, 300)}`);
}

/** Kick off (GET unless method) and expect 202 + Content-Location; returns the poll path. */
async function kickoff(srv, p, { token, method = 'GET', headers = {}, body } = {}) {
  const res = await req(srv, method, p, { token, headers: { ...ASYNC, ...headers }, body });
  assert.equal(res.status, 202, `${method} ${p}: ${res.status} ${res.text.slice(0, 400)}`);
  const loc = res.headers['content-location'];
  assert.match(String(loc), /\/fhir\/\$export-poll-status\?_jobId=[a-z0-9]+$/, `Content-Location ${loc}`);
  return localPath(srv, loc);
}

const jobIdOf = (poll) => new URL(poll, 'http://x').searchParams.get('_jobId');

/** Poll until the job is no longer running (asserting the 202s); the final response. */
async function waitDone(srv, poll, { token, timeoutMs = 60000, every = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await req(srv, 'GET', poll, { token });
    if (r.status !== 202) return r;
    assert.ok(r.headers['x-progress'], '202 without X-Progress');
    assert.match(String(r.headers['retry-after']), /^[0-9]+$/, 'Retry-After');
    assert.ok(Date.now() < deadline, `the export still runs after ${timeoutMs} ms: ${r.headers['x-progress']}`);
    await sleep(every);
  }
}

/** Poll to the end and check the manifest's shape; returns it. */
async function manifestOf(srv, poll, opts = {}) {
  const r = await waitDone(srv, poll, opts);
  assert.equal(r.status, 200, `poll: ${r.status} ${r.text.slice(0, 400)}`);
  assert.match(String(r.headers['content-type']), /^application\/json\b/, `manifest Content-Type ${r.headers['content-type']}`);
  const m = r.json;
  assert.match(m.transactionTime, INSTANT_RE);
  assert.equal(typeof m.request, 'string');
  assert.ok(m.request.startsWith(`${srv.base}/`), m.request);
  assert.equal(m.requiresAccessToken, true);
  assert.ok(Array.isArray(m.output));
  assert.deepEqual(m.deleted, []);
  assert.deepEqual(m.error, []);
  for (const o of m.output) {
    assert.equal(typeof o.type, 'string');
    assert.ok(Number.isInteger(o.count) && o.count > 0, `output ${JSON.stringify(o)}`);
    assert.match(o.url, new RegExp(`/fhir/\\$export-file/${jobIdOf(poll)}/[A-Za-z]+-[0-9]+\\.ndjson$`));
  }
  return m;
}

/** Download every output file: each 200 application/fhir+ndjson, one resource of the output's type a line, as many as its count. */
async function download(srv, m, { token } = {}) {
  const all = [];
  for (const o of m.output) {
    const r = await req(srv, 'GET', localPath(srv, o.url), { token, headers: { accept: 'application/fhir+ndjson' } });
    assert.equal(r.status, 200, `${o.url}: ${r.status} ${r.text.slice(0, 300)}`);
    assert.match(String(r.headers['content-type']), /^application\/fhir\+ndjson\b/, `file Content-Type ${r.headers['content-type']}`);
    assert.ok(r.text.endsWith('\n'), `${o.url} does not end in a newline`);
    const lines = r.text.slice(0, -1).split('\n');
    assert.equal(lines.length, o.count, `${o.url}: ${lines.length} lines, the manifest says ${o.count}`);
    for (const [i, line] of lines.entries()) {
      let res;
      try { res = JSON.parse(line); } catch (e) { assert.fail(`${o.url} line ${i + 1} is not JSON (${e.message}): ${line.slice(0, 200)}`); }
      assert.equal(res.resourceType, o.type, `${o.url} line ${i + 1}`);
      assert.ok(res.id && res.meta && res.meta.versionId && res.meta.lastUpdated, `${o.url} line ${i + 1}: id/meta`);
      all.push(res);
    }
  }
  return all;
}

const key = (r) => `${r.resourceType}/${r.id}/${r.meta.versionId}`;

/** The sorted "Type/id/versionId" of the resources, asserting no resource twice. */
function keysOf(resources) {
  const ks = resources.map(key).sort();
  const ids = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
  assert.equal(ids.size, resources.length, 'a resource is exported twice');
  return ks;
}

/** What the server holds now of `types`: sorted "Type/id/versionId" (searches, every page). */
async function serverKeys(srv, types) {
  const out = [];
  for (const t of types) {
    let p = `/fhir/${t}?_count=1000`;
    while (p) {
      const r = await req(srv, 'GET', p);
      assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.text.slice(0, 300)}`);
      for (const e of r.json.entry || []) out.push(key(e.resource));
      const next = (r.json.link || []).find((l) => l.relation === 'next');
      p = next ? localPath(srv, next.url) : null;
    }
  }
  return out.sort();
}

const outputTypes = (m) => m.output.map((o) => o.type).sort();

let validator = null;
/** Every resource valid against the R4 JSON schema (@asymmetrik/fhir-json-schema-validator). */
function assertSchemaValid(resources, what) {
  if (!validator) validator = new JSONSchemaValidator();
  for (const r of resources) {
    const errors = validator.validate(r, true);
    assert.deepEqual(errors, [], `${what}: ${r.resourceType}/${r.id} does not validate: ${JSON.stringify(errors).slice(0, 600)}`);
  }
}

// ---------------------------------------------------------------------------
// The known data set: 3 Patients, Observations, Conditions, an Encounter, a
// Group (p1, p2 active, p3 inactive), a Practitioner outside every
// compartment; updates (versions > 1) and deletions (gone from the export).
const HR = 'http://loinc.org|8867-4';
const WEIGHT = 'http://loinc.org|29463-7';
const code = (c) => { const [system, cd] = c.split('|'); return { coding: [{ system, code: cd }] }; };
const observation = (id, patient, c, value) => ({
  resourceType: 'Observation', id, status: 'final', code: code(c),
  subject: { reference: `Patient/${patient}` }, valueQuantity: { value, unit: '1' },
});
const condition = (id, patient) => ({
  resourceType: 'Condition', id, subject: { reference: `Patient/${patient}` },
  code: { text: `condition of ${patient}` },
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
});

/** Which patient's compartment each resource of the data set is in (null: none). */
const PATIENT_OF = {
  'Patient/p1': 'p1', 'Patient/p2': 'p2', 'Patient/p3': 'p3',
  'Observation/o1': 'p1', 'Observation/o2': 'p1', 'Observation/o3': 'p2', 'Observation/o4': 'p3',
  'Condition/c1': 'p1', 'Condition/c2': 'p2', 'Condition/c4': 'p1',
  'Encounter/e1': 'p1', 'Practitioner/dr': null,
};

async function loadDataSet(srv) {
  for (const p of ['p1', 'p2', 'p3']) await put(srv, { resourceType: 'Patient', id: p, name: [{ family: `Fam-${p}` }], gender: 'female' });
  await put(srv, { resourceType: 'Patient', id: 'p1', name: [{ family: 'Fam-p1', given: ['Updated'] }], gender: 'female' }); // v2
  await put(srv, { resourceType: 'Practitioner', id: 'dr', name: [{ family: 'Doc' }] });
  await put(srv, observation('o1', 'p1', HR, 60));
  await put(srv, observation('o1', 'p1', HR, 61));
  await put(srv, observation('o1', 'p1', HR, 62)); // v3
  await put(srv, observation('o2', 'p1', WEIGHT, 70));
  await put(srv, observation('o3', 'p2', HR, 80));
  await put(srv, observation('o4', 'p3', WEIGHT, 90));
  await put(srv, observation('o-gone', 'p2', HR, 1));
  await del(srv, 'Observation', 'o-gone');
  for (const [id, p] of [['c1', 'p1'], ['c2', 'p2'], ['c3', 'p3']]) await put(srv, condition(id, p));
  await del(srv, 'Condition', 'c3');
  await put(srv, { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/p1' } });
  await put(srv, {
    resourceType: 'Group', id: 'g1', type: 'person', actual: true,
    member: [{ entity: { reference: 'Patient/p1' } }, { entity: { reference: 'Patient/p2' } }, { entity: { reference: 'Patient/p3' }, inactive: true }],
  });
}

const DATA_TYPES = ['Condition', 'Encounter', 'Group', 'Observation', 'Patient', 'Practitioner'];

describe('Bulk Data export ($export)', () => {
  let srv;
  const files = {}; // what the tests downloaded, for the schema check
  before(async () => {
    srv = await startOn();
    await loadDataSet(srv);
  });
  after(async () => {
    if (srv) {
      const dir = srv.dataDir;
      await srv.stop();
      removeStore(dir);
    }
  });

  it('kick-off errors: no Prefer, bad _type, _outputFormat, _since, _typeFilter, unknown parameters, no token, a limited token', async () => {
    const cases = [
      ['no Prefer: respond-async', '/fhir/$export', {}, 400],
      ['Prefer without respond-async', '/fhir/$export', { prefer: 'return=minimal' }, 400],
      ['unknown _type', '/fhir/$export?_type=Patient,NoSuchType', ASYNC, 400],
      ['a datatype as _type', '/fhir/$export?_type=HumanName', ASYNC, 400],
      ['_outputFormat text/csv', '/fhir/$export?_outputFormat=text/csv', ASYNC, 400],
      ['_since not an instant', '/fhir/$export?_since=yesterday', ASYNC, 400],
      ['_typeFilter without ?', '/fhir/$export?_typeFilter=Observation', ASYNC, 400],
      ['_typeFilter of a type not in _type', '/fhir/$export?_type=Patient&_typeFilter=Observation%3Fcode%3Dx', ASYNC, 400],
      ['_typeFilter with an unknown search parameter', '/fhir/$export?_typeFilter=Observation%3Fno-such-param%3Dx', ASYNC, 400],
      ['_typeFilter of an unknown type', '/fhir/$export?_typeFilter=NoSuchType%3Fx%3Dy', ASYNC, 400],
      ['unknown parameter', '/fhir/$export?frobnicate=1', ASYNC, 400],
      ['unsupported parameter', '/fhir/$export?includeAssociatedData=LatestProvenanceResources', ASYNC, 400],
      ['Patient level, no Prefer', '/fhir/Patient/$export', {}, 400],
      ['Group level, no Prefer', '/fhir/Group/g1/$export', {}, 400],
      ['unknown Group', '/fhir/Group/no-such-group/$export', ASYNC, 404],
    ];
    for (const [what, p, headers, want] of cases) {
      const r = await req(srv, 'GET', p, { headers });
      assertOutcome(r, want, what);
      assert.equal(r.headers['content-location'], undefined, `${what}: a Content-Location on an error`);
    }
    // Prefer: handling=lenient ignores the parameters it does not know
    const poll = await kickoff(srv, '/fhir/$export?_type=Patient&frobnicate=1', { headers: { prefer: 'respond-async, handling=lenient' } });
    const m = await manifestOf(srv, poll);
    assert.deepEqual(outputTypes(m), ['Patient']);
    // PUT is not a kick-off
    assertOutcome(await req(srv, 'PUT', '/fhir/$export', { headers: ASYNC, body: {} }), 405, 'PUT $export');
    // authentication and scopes
    assertOutcome(await req(srv, 'GET', '/fhir/$export', { token: null, headers: ASYNC }), 401, 'no token');
    assertOutcome(await req(srv, 'GET', '/fhir/Patient/$export', { token: null, headers: ASYNC }), 401, 'no token, Patient level');
    const patientCtx = mintToken({ sub: 'pat', scope: 'patient/*.rs', patient: 'p1' });
    for (const p of ['/fhir/$export', '/fhir/Patient/$export', '/fhir/Group/g1/$export', '/fhir/$export?_type=Observation']) {
      assertOutcome(await req(srv, 'GET', p, { token: patientCtx, headers: ASYNC }), 403, `patient-context token: ${p}`);
    }
    const obsOnly = mintToken({ sub: 'obs', scope: 'system/Observation.rs' });
    assertOutcome(await req(srv, 'GET', '/fhir/$export', { token: obsOnly, headers: ASYNC }), 403, 'Observation scope, every type');
    assertOutcome(await req(srv, 'GET', '/fhir/$export?_type=Patient', { token: obsOnly, headers: ASYNC }), 403, 'Observation scope, _type=Patient');
    const writeOnly = mintToken({ sub: 'w', scope: 'system/*.cud' });
    assertOutcome(await req(srv, 'GET', '/fhir/$export', { token: writeOnly, headers: ASYNC }), 403, 'no read scope');
    // ...and an Observation scope may export Observations
    const pollObs = await kickoff(srv, '/fhir/$export?_type=Observation', { token: obsOnly });
    assert.deepEqual(outputTypes(await manifestOf(srv, pollObs, { token: obsOnly })), ['Observation']);
    for (const scope of ['system/*.read', 'system/*.rs']) {
      const tok = mintToken({ sub: `reader-${scope}`, scope });
      const pr = await kickoff(srv, '/fhir/$export?_type=Patient', { token: tok });
      assert.deepEqual(outputTypes(await manifestOf(srv, pr, { token: tok })), ['Patient'], scope);
    }
    // the poll endpoint's own errors
    assertOutcome(await req(srv, 'GET', '/fhir/$export-poll-status'), 400, 'no _jobId');
    assertOutcome(await req(srv, 'GET', '/fhir/$export-poll-status?_jobId=0123456789abcdef0123456789abcdef'), 404, 'unknown job');
    assertOutcome(await req(srv, 'GET', '/fhir/$export-poll-status?_jobId=..%2F..%2Fetc'), 404, 'a path as job id');
    assertOutcome(await req(srv, 'GET', '/fhir/$export-file/0123456789abcdef0123456789abcdef/Patient-1.ndjson'), 404, 'a file of no job');
  });

  it('system export: the manifest, every file, and exactly the (type, id, versionId) the server holds', async () => {
    for (const method of ['GET', 'POST']) {
      const poll = await kickoff(srv, '/fhir/$export', { method });
      const m = await manifestOf(srv, poll);
      assert.equal(m.request, `${srv.base}/$export`);
      assert.deepEqual(outputTypes(m), DATA_TYPES, `${method}: the types exported`);
      const counts = Object.fromEntries(m.output.map((o) => [o.type, o.count]));
      assert.deepEqual(counts, { Condition: 2, Encounter: 1, Group: 1, Observation: 4, Patient: 3, Practitioner: 1 });
      const got = await download(srv, m);
      assert.deepEqual(keysOf(got), await serverKeys(srv, DATA_TYPES), `${method}: exported != held`);
      assert.ok(got.some((r) => key(r) === 'Observation/o1/3') && got.some((r) => key(r) === 'Patient/p1/2'), 'the current versions');
      assert.ok(!got.some((r) => r.id === 'o-gone' || r.id === 'c3'), 'a deleted resource was exported');
      // a client that accepts anything, or ndjson, gets the file; one that accepts neither does not
      const f = localPath(srv, m.output[0].url);
      for (const accept of ['*/*', 'application/ndjson', 'application/fhir+json', undefined]) {
        const r = await req(srv, 'GET', f, { headers: accept ? { accept } : { accept: '' } });
        assert.equal(r.status, 200, `Accept ${accept}: ${r.status}`);
        assert.match(String(r.headers['content-type']), /^application\/fhir\+ndjson\b/);
      }
      assertOutcome(await req(srv, 'GET', f, { headers: { accept: 'text/csv' } }), 406, 'Accept text/csv');
      // the file bytes are the resources as read
      const o1 = got.find((r) => r.id === 'o1');
      assert.deepEqual(o1, (await req(srv, 'GET', '/fhir/Observation/o1')).json);
      files.system = got;
    }
    assert.ok(fs.existsSync(path.join(srv.dataDir, 'exports')), 'the jobs live in --export-dir');
  });

  it("another subject's token: the job's status, files and DELETE are 404; the owner's still work", async () => {
    const alice = mintToken({ sub: 'alice', scope: 'system/*.rs' });
    const bob = mintToken({ sub: 'bob', scope: 'system/*.cruds' });
    const poll = await kickoff(srv, '/fhir/$export?_type=Patient,Observation', { token: alice });
    // bob cannot see it even while it may still run
    assertOutcome(await req(srv, 'GET', poll, { token: bob }), 404, 'bob polls');
    const m = await manifestOf(srv, poll, { token: alice });
    assertOutcome(await req(srv, 'GET', poll, { token: bob }), 404, 'bob polls a finished job');
    assertOutcome(await req(srv, 'GET', poll), 404, 'the harness token (another sub) polls');
    assertOutcome(await req(srv, 'GET', poll, { token: null }), 401, 'no token polls');
    for (const o of m.output) {
      assertOutcome(await req(srv, 'GET', localPath(srv, o.url), { token: bob }), 404, `bob downloads ${o.type}`);
      assertOutcome(await req(srv, 'GET', localPath(srv, o.url), { token: null }), 401, `no token downloads ${o.type}`);
    }
    assertOutcome(await req(srv, 'DELETE', poll, { token: bob }), 404, 'bob cancels');
    // still there for alice
    const again = await manifestOf(srv, poll, { token: alice });
    assert.deepEqual(again, m);
    const got = await download(srv, m, { token: alice });
    assert.deepEqual(keysOf(got), await serverKeys(srv, ['Observation', 'Patient']));
    // another token of alice's (another scope, same sub) may
    const alice2 = mintToken({ sub: 'alice', scope: 'system/*.read' });
    assert.equal((await req(srv, 'GET', poll, { token: alice2 })).status, 200);
    // a file name that is not in the job, or a path
    const jobId = jobIdOf(poll);
    for (const name of ['job.json', 'Condition-1.ndjson', '..%2Fjob.json', '.job.json.tmp']) {
      assertOutcome(await req(srv, 'GET', `/fhir/$export-file/${jobId}/${name}`, { token: alice }), 404, `file ${name}`);
    }
  });

  it('_type, _typeFilter, _elements', async () => {
    // _type: only those types, even one without data
    let m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Patient,Condition,Medication&_outputFormat=application/fhir%2Bndjson'));
    assert.deepEqual(outputTypes(m), ['Condition', 'Patient']);
    assert.deepEqual(keysOf(await download(srv, m)), await serverKeys(srv, ['Condition', 'Patient']));
    for (const fmt of ['application/ndjson', 'ndjson']) {
      m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_type=Encounter&_outputFormat=${encodeURIComponent(fmt)}`));
      assert.deepEqual(outputTypes(m), ['Encounter'], fmt);
    }
    // POST with a Parameters body (Bulk Data v2), alone or with query parameters
    const params = (...pairs) => ({ resourceType: 'Parameters', parameter: pairs.map(([name, k, v]) => ({ name, [k]: v })) });
    m = await manifestOf(srv, await kickoff(srv, '/fhir/$export', { method: 'POST', body: params(['_type', 'valueString', 'Patient,Condition'], ['_outputFormat', 'valueString', 'application/fhir+ndjson']) }));
    assert.deepEqual(outputTypes(m), ['Condition', 'Patient']);
    m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Observation', { method: 'POST', body: params(['_typeFilter', 'valueString', `Observation?code=${WEIGHT}`]) }));
    assert.deepEqual((await download(srv, m)).map((r) => r.id).sort(), ['o2', 'o4']);
    for (const [what, body] of [
      ['not a Parameters', { resourceType: 'Patient' }],
      ['not JSON', 'not json'],
      ['a parameter without a value', { resourceType: 'Parameters', parameter: [{ name: '_type' }] }],
      ['an unknown parameter', params(['frobnicate', 'valueString', '1'])],
      ['a bad _type', params(['_type', 'valueString', 'NoSuchType'])],
      ['a bad _since', params(['_since', 'valueInstant', 'yesterday'])],
    ]) {
      assertOutcome(await req(srv, 'POST', '/fhir/$export', { headers: ASYNC, body }), 400, `POST body: ${what}`);
    }
    // _type given twice adds up
    m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Patient&_type=Group'));
    assert.deepEqual(outputTypes(m), ['Group', 'Patient']);

    // _typeFilter: the heart rates among the Observations; the Patients whole
    m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_type=Observation,Patient&_typeFilter=${encodeURIComponent(`Observation?code=${HR}`)}`));
    let got = await download(srv, m);
    assert.deepEqual(got.filter((r) => r.resourceType === 'Observation').map((r) => r.id).sort(), ['o1', 'o3']);
    assert.equal(got.filter((r) => r.resourceType === 'Patient').length, 3);
    // two filters of one type: either; a filter with two parameters: both
    m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_type=Observation&_typeFilter=${encodeURIComponent(`Observation?code=${HR}&subject=Patient/p2,Observation?value-quantity=90`)}`));
    got = await download(srv, m);
    assert.deepEqual(got.map((r) => r.id).sort(), ['o3', 'o4']);
    // a filter without _type: that type filtered, the others whole
    m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_typeFilter=${encodeURIComponent('Patient?_id=p2')}`));
    got = await download(srv, m);
    assert.deepEqual(got.filter((r) => r.resourceType === 'Patient').map((r) => r.id), ['p2']);
    assert.equal(got.filter((r) => r.resourceType === 'Observation').length, 4);
    // a filter that matches nothing: no file of the type
    m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_type=Observation&_typeFilter=${encodeURIComponent('Observation?code=http://loinc.org|0000-0')}`));
    assert.deepEqual(m.output, []);

    // _elements: only those (and id, meta), marked SUBSETTED
    m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Observation,Patient&_elements=status,Patient.gender'));
    got = await download(srv, m);
    assert.equal(got.length, 7);
    for (const r of got) {
      const want = r.resourceType === 'Observation' ? ['id', 'meta', 'resourceType', 'status'] : ['gender', 'id', 'meta', 'resourceType'];
      assert.deepEqual(Object.keys(r).sort(), want, `${r.resourceType}/${r.id}: ${JSON.stringify(r)}`);
      assert.ok((r.meta.tag || []).some((t) => t.code === SUBSETTED && t.system === 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue'), `${r.resourceType}/${r.id}: no SUBSETTED tag`);
      const full = (await req(srv, 'GET', `/fhir/${r.resourceType}/${r.id}`)).json;
      assert.equal(r.meta.versionId, full.meta.versionId);
      if (r.status) assert.equal(r.status, full.status);
    }
    // the whole export carries no SUBSETTED tag
    assert.ok(!files.system.some((r) => (r.meta.tag || []).some((t) => t.code === SUBSETTED)));
  });

  it('Patient/$export: every compartment and the Patients; Group/[id]/$export: only the active members', async () => {
    const inPatients = (got, ps) => got.every((r) => ps.includes(PATIENT_OF[`${r.resourceType}/${r.id}`]) || (r.resourceType === 'Group' && r.id === 'g1'));
    // every patient's compartment: not the Practitioner
    let m = await manifestOf(srv, await kickoff(srv, '/fhir/Patient/$export'));
    assert.equal(m.request, `${srv.base}/Patient/$export`);
    let got = await download(srv, m);
    let ids = got.map((r) => `${r.resourceType}/${r.id}`).sort();
    const everyone = Object.keys(PATIENT_OF).filter((k) => PATIENT_OF[k] && k !== 'Condition/c4');
    for (const k of everyone) assert.ok(ids.includes(k), `Patient/$export lacks ${k}`);
    assert.ok(!ids.includes('Practitioner/dr'), 'Patient/$export exported a Practitioner');
    assert.ok(inPatients(got, ['p1', 'p2', 'p3']), ids.join(' '));
    const files1 = got;

    // Group g1: p1 and p2 (p3 is inactive)
    m = await manifestOf(srv, await kickoff(srv, '/fhir/Group/g1/$export', { method: 'POST' }));
    assert.equal(m.request, `${srv.base}/Group/g1/$export`);
    got = await download(srv, m);
    ids = got.map((r) => `${r.resourceType}/${r.id}`).sort();
    for (const k of Object.keys(PATIENT_OF).filter((x) => ['p1', 'p2'].includes(PATIENT_OF[x]) && x !== 'Condition/c4')) {
      assert.ok(ids.includes(k), `Group/g1/$export lacks ${k}: ${ids.join(' ')}`);
    }
    assert.ok(inPatients(got, ['p1', 'p2']), `Group/g1/$export went outside p1, p2: ${ids.join(' ')}`);
    assert.ok(!ids.includes('Patient/p3') && !ids.includes('Observation/o4'), 'the inactive member was exported');
    // the same versions as the system export
    const sys = new Set(files.system.map(key));
    for (const r of got) assert.ok(sys.has(key(r)), `${key(r)} not in the system export`);
    files.group = got;

    // with _type
    m = await manifestOf(srv, await kickoff(srv, '/fhir/Group/g1/$export?_type=Observation'));
    got = await download(srv, m);
    assert.deepEqual(got.map((r) => r.id).sort(), ['o1', 'o2', 'o3']);
    m = await manifestOf(srv, await kickoff(srv, '/fhir/Patient/$export?_type=Condition,Patient'));
    got = await download(srv, m);
    assert.deepEqual(got.map((r) => `${r.resourceType}/${r.id}`).sort(), ['Condition/c1', 'Condition/c2', 'Patient/p1', 'Patient/p2', 'Patient/p3']);

    // a Group without members exports nothing
    await put(srv, { resourceType: 'Group', id: 'g-empty', type: 'person', actual: true });
    m = await manifestOf(srv, await kickoff(srv, '/fhir/Group/g-empty/$export'));
    assert.deepEqual(m.output, []);
    await del(srv, 'Group', 'g-empty');
    files.patient = files1;
  });

  it('_since: only what changed after it', async () => {
    await sleep(30);
    const since = new Date().toISOString();
    await sleep(30);
    await put(srv, observation('o2', 'p1', WEIGHT, 71)); // v2
    await put(srv, condition('c4', 'p1')); // new
    await del(srv, 'Observation', 'o4'); // a deletion is no resource to export
    const m = await manifestOf(srv, await kickoff(srv, `/fhir/$export?_since=${encodeURIComponent(since)}`));
    const got = await download(srv, m);
    assert.deepEqual(keysOf(got), ['Condition/c4/1', 'Observation/o2/2']);
    // a _since in the future: nothing; in the past: everything
    const future = new Date(Date.now() + 3600e3).toISOString();
    assert.deepEqual((await manifestOf(srv, await kickoff(srv, `/fhir/$export?_since=${encodeURIComponent(future)}`))).output, []);
    const all = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_since=2000-01-01T00:00:00Z&_type=Observation,Condition'));
    assert.deepEqual(keysOf(await download(srv, all)), await serverKeys(srv, ['Condition', 'Observation']));
  });

  it('cancel a finished job: DELETE 202, then its status and files are 404 and its directory gone', async () => {
    const poll = await kickoff(srv, '/fhir/$export?_type=Patient,Observation');
    const m = await manifestOf(srv, poll);
    const jobDir = path.join(srv.dataDir, 'exports', jobIdOf(poll));
    assert.ok(fs.existsSync(jobDir), jobDir);
    const d = await req(srv, 'DELETE', poll);
    assert.equal(d.status, 202, d.text);
    assertOutcome(await req(srv, 'GET', poll), 404, 'status after DELETE');
    for (const o of m.output) assertOutcome(await req(srv, 'GET', localPath(srv, o.url)), 404, `file ${o.type} after DELETE`);
    assertOutcome(await req(srv, 'DELETE', poll), 404, 'a second DELETE');
    assert.ok(!fs.existsSync(jobDir), 'the job directory is still there');
  });

  it('the exported NDJSON validates against the R4 JSON schema (@asymmetrik/fhir-json-schema-validator)', async () => {
    // the validator itself finds faults
    if (!validator) validator = new JSONSchemaValidator();
    assert.notDeepEqual(validator.validate({ resourceType: 'Patient', gender: 42 }, true), [], 'the validator accepts a bad Patient');
    const m = await manifestOf(srv, await kickoff(srv, '/fhir/$export'));
    const got = await download(srv, m);
    assert.ok(got.length >= 12);
    assertSchemaValid(got, 'system export');
    assertSchemaValid(files.system, 'the first system export');
    assertSchemaValid(files.patient, 'Patient/$export');
    assertSchemaValid(files.group, 'Group/$export');
  });
});

// ---------------------------------------------------------------------------
// A larger store: restarts in the middle of a job, cancelling a running job,
// and the snapshot while 8 clients write.
const BIG = 20000; // Observations: an export of them runs ~0.1 s (SQLite, release), several polls
const BATCH = 500;

async function loadBig(srv) {
  const bundles = [];
  for (let s = 0; s < BIG; s += BATCH) {
    const entry = [];
    for (let i = s; i < Math.min(BIG, s + BATCH); i++) {
      entry.push({
        resource: { resourceType: 'Observation', id: `b${i}`, status: 'final', code: { text: `big ${i % 7}` }, subject: { reference: `Patient/bp${i % 10}` }, valueQuantity: { value: i } },
        request: { method: 'PUT', url: `Observation/b${i}` },
      });
    }
    if (s === 0) {
      for (let p = 0; p < 10; p++) entry.push({ resource: { resourceType: 'Patient', id: `bp${p}` }, request: { method: 'PUT', url: `Patient/bp${p}` } });
    }
    bundles.push({ resourceType: 'Bundle', type: 'transaction', entry });
  }
  let next = 0;
  await Promise.all([0, 1].map(async () => {
    while (next < bundles.length) {
      const b = bundles[next++];
      const r = await req(srv, 'POST', '/fhir', { body: b, headers: { prefer: 'return=minimal' } });
      assert.equal(r.status, 200, `transaction: ${r.status} ${r.text.slice(0, 300)}`);
    }
  }));
}

/** The state of a job on disk (job.json), or null when it is gone. */
function jobState(dataDir, poll) {
  const f = path.join(dataDir, 'exports', jobIdOf(poll), 'job.json');
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')).state : null;
}

describe('Bulk Data export of a larger store', () => {
  let srv;
  let dataDir;
  before(async () => {
    dataDir = tempDir('bulk-big-');
    srv = await startOn(dataDir);
    const t0 = Date.now();
    await loadBig(srv);
    const t1 = Date.now();
    // how long a whole export takes here (the restart test needs it to be running when killed)
    const m = await manifestOf(srv, await kickoff(srv, '/fhir/$export'), { every: 5 });
    assert.deepEqual(m.output.map((o) => [o.type, o.count]).sort(), [['Observation', BIG], ['Patient', 10]]);
    console.log(`# bulk: ${BIG} Observations loaded in ${t1 - t0} ms; a full export took ${Date.now() - t1} ms`);
  });
  after(async () => {
    if (srv) await srv.stop({ keepData: true });
    if (dataDir) removeStore(dataDir);
  });

  /** Check a finished job after a restart: complete counts, every line well-formed, each resource once. */
  async function assertComplete(m, what) {
    assert.deepEqual(m.output.map((o) => [o.type, o.count]).sort(), [['Observation', BIG], ['Patient', 10]], what);
    const got = await download(srv, m);
    const ids = new Set(got.map((r) => `${r.resourceType}/${r.id}`));
    assert.equal(ids.size, BIG + 10, `${what}: duplicates or missing resources`);
    for (let i = 0; i < BIG; i += 997) assert.ok(ids.has(`Observation/b${i}`), `${what}: Observation/b${i} missing`);
  }

  it('a server killed (SIGKILL) in the middle of a job resumes it at the next start', async (t) => {
    let resumedMidJob = false;
    for (let attempt = 0; attempt < 2 && !resumedMidJob; attempt++) {
      const poll = await kickoff(srv, '/fhir/$export');
      if (attempt === 0) { // the first time: kill once a poll has said 202
        const r = await req(srv, 'GET', poll);
        assert.ok([200, 202].includes(r.status), `poll: ${r.status}`);
      } // the second: right after the kick-off
      await srv.crash(); // SIGKILL
      const state = jobState(dataDir, poll);
      assert.ok(['accepted', 'running', 'done'].includes(state), `job.json after the kill: ${state}`);
      resumedMidJob = state !== 'done';
      if (!resumedMidJob) t.diagnostic(`attempt ${attempt + 1}: the export had already finished when the server was killed`);
      srv = await startOn(dataDir, { port: srv.port }); // the same base: the manifest's request
      const m = await manifestOf(srv, poll, { every: 10 });
      await assertComplete(m, `after SIGKILL (job ${state} when killed)`);
      assert.equal(jobState(dataDir, poll), 'done');
    }
    if (!resumedMidJob) t.diagnostic('NOTE: the export always finished before the kill; only the restart of a finished job was checked');
    else t.diagnostic('the job was unfinished when killed and resumed after the restart');
  });

  it('a server stopped (SIGTERM) in the middle of a job resumes it at the next start', async (t) => {
    const poll = await kickoff(srv, '/fhir/$export');
    await srv.stop({ keepData: true }); // clean exit (code 0)
    const state = jobState(dataDir, poll);
    assert.ok(['accepted', 'running', 'done'].includes(state), `job.json after the stop: ${state}`);
    if (state === 'done') t.diagnostic('the export had finished before the stop');
    srv = await startOn(dataDir, { port: srv.port });
    await assertComplete(await manifestOf(srv, poll, { every: 10 }), `after SIGTERM (job ${state})`);
  });

  it('cancel a running job: DELETE 202, then its status is 404 and its directory goes', async (t) => {
    const poll = await kickoff(srv, '/fhir/$export');
    let state = jobState(dataDir, poll);
    for (let i = 0; i < 200 && state === 'accepted'; i++) { // until the worker has it
      await sleep(1);
      state = jobState(dataDir, poll);
    }
    const d = await req(srv, 'DELETE', poll);
    assert.equal(d.status, 202, d.text);
    assertOutcome(await req(srv, 'GET', poll), 404, 'status right after DELETE');
    assertOutcome(await req(srv, 'DELETE', poll), 404, 'a second DELETE');
    assertOutcome(await req(srv, 'GET', `/fhir/$export-file/${jobIdOf(poll)}/Observation-1.ndjson`), 404, 'a file of the cancelled job');
    const jobDir = path.join(dataDir, 'exports', jobIdOf(poll));
    for (let i = 0; i < 100 && fs.existsSync(jobDir); i++) await sleep(20);
    assert.ok(!fs.existsSync(jobDir), 'the cancelled job directory is still there');
    // the worker goes on with the next job
    const m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Patient'));
    assert.deepEqual(m.output.map((o) => [o.type, o.count]), [['Patient', 10]]);
    t.diagnostic(state === 'done' ? 'NOTE: the job had finished before the DELETE' : `cancelled while ${state}`);
  });

  it('a consistent snapshot: 8 clients update and create Observations while the job runs; the export holds exactly the state at the kick-off', async (t) => {
    const recorded = await serverKeys(srv, ['Observation']);
    assert.equal(recorded.length, BIG);
    const ids = recorded.map((k) => k.split('/')[1]);
    const poll = await kickoff(srv, '/fhir/$export?_type=Observation');
    let done = false;
    let writesBeforeDone = 0;
    let n = 0;
    const writer = async (w) => {
      while (!done) {
        const i = n++;
        let r;
        if (i % 2) {
          const id = ids[(i * 7919 + w) % ids.length];
          r = await req(srv, 'PUT', `/fhir/Observation/${id}`, { body: { resourceType: 'Observation', id, status: 'amended', code: { text: `rewritten by ${w}` }, valueQuantity: { value: i } }, headers: { prefer: 'return=minimal' } });
          assert.equal(r.status, 200, `PUT: ${r.status} ${r.text.slice(0, 200)}`);
        } else {
          r = await req(srv, 'POST', '/fhir/Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: `new by ${w}` } }, headers: { prefer: 'return=minimal' } });
          assert.equal(r.status, 201, `POST: ${r.status} ${r.text.slice(0, 200)}`);
        }
        if (!done) writesBeforeDone++;
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    let m;
    try {
      m = await manifestOf(srv, poll, { every: 5 });
    } finally {
      done = true;
      await Promise.all(writers);
    }
    t.diagnostic(`${writesBeforeDone} writes finished while the export ran`);
    assert.ok(writesBeforeDone > 0, 'no write finished while the export ran: the test proves nothing');
    const got = await download(srv, m);
    assert.deepEqual(keysOf(got), recorded, 'the export is not the state at the kick-off');
    assert.ok(got.every((r) => r.status === 'final'), 'a later version was exported');
    // the store did change meanwhile
    const now = await serverKeys(srv, ['Observation']);
    assert.ok(now.length > BIG, 'no Observation was created');
  });

  it('the large export validates against the R4 JSON schema', async () => {
    const m = await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Patient&_typeFilter=Patient%3F_id%3Dbp1,Patient%3F_id%3Dbp2'));
    const got = await download(srv, m);
    assert.deepEqual(got.map((r) => r.id).sort(), ['bp1', 'bp2']);
    const all = await download(srv, await manifestOf(srv, await kickoff(srv, '/fhir/$export?_type=Observation')));
    assertSchemaValid(all.slice(0, 5000), 'large export');
  });
});

// ---------------------------------------------------------------------------
// Migration with history through the CLI.
describe('migration with history: bron export --history, bron import --history, bron compare', () => {
  const dirs = [];
  const fresh = (prefix) => { const d = tempDir(prefix); dirs.push(d); return d; };
  after(() => { for (const d of dirs) removeStore(d); });
  const where = (d) => (PG_MODE ? storeUrl(d) : d);

  /** The _history of every resource in `refs` on srv, with the origin taken out. */
  async function histories(srv, refs) {
    const out = {};
    for (const ref of refs) {
      const r = await req(srv, 'GET', `/fhir/${ref}/_history?_count=100`);
      assert.equal(r.status, 200, `${ref}/_history: ${r.status} ${r.text.slice(0, 200)}`);
      out[ref] = r.json.entry.map((e) => ({
        fullUrl: e.fullUrl.replace(srv.base, 'BASE'), method: e.request.method, url: e.request.url,
        status: e.response.status, etag: e.response.etag, lastModified: e.response.lastModified, resource: e.resource,
      }));
    }
    return out;
  }

  it('a store with creates, updates, deletes and a re-create copies whole; a change in the copy is named', async () => {
    const a = fresh('mig-a-');
    let srv = await startOn(a);
    const refs = [];
    for (let i = 0; i < 5; i++) {
      await put(srv, { resourceType: 'Patient', id: `m${i}`, name: [{ family: `M${i}` }] });
      refs.push(`Patient/m${i}`);
    }
    for (let v = 0; v < 3; v++) await put(srv, { resourceType: 'Patient', id: 'm0', name: [{ family: 'M0', given: [`v${v}`] }] });
    const created = await req(srv, 'POST', '/fhir/Observation', { body: observation(undefined, 'm1', HR, 1) });
    assert.equal(created.status, 201);
    const oid = created.json.id;
    refs.push(`Observation/${oid}`);
    await put(srv, { ...observation(oid, 'm1', HR, 2), id: oid });
    await del(srv, 'Patient', 'm2'); // deleted for good
    await del(srv, 'Patient', 'm3');
    await put(srv, { resourceType: 'Patient', id: 'm3', name: [{ family: 'M3', given: ['again'] }] }); // re-created
    await del(srv, 'Observation', oid);
    await put(srv, { resourceType: 'Encounter', id: 'enc', status: 'planned', class: { code: 'AMB' }, subject: { reference: 'Patient/m0' } });
    await put(srv, { resourceType: 'Encounter', id: 'enc', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/m0' } });
    refs.push('Encounter/enc');
    const before = await histories(srv, refs);
    assert.deepEqual(before['Patient/m3'].map((e) => e.method), ['PUT', 'DELETE', 'POST']);
    await srv.stop({ keepData: true });

    const out = fresh('mig-out-');
    const ex = await runBron(['export', ...storeArgs(a), '--out', out, '--history'], 60000);
    assert.equal(ex.code, 0, `bron export: ${ex.stderr}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    assert.equal(manifest.history, true);
    const ndjson = fs.readdirSync(out).filter((f) => f.endsWith('.ndjson')).sort();
    assert.deepEqual(ndjson, manifest.output.map((o) => o.url).sort());
    // every version, the deletions as DELETE Bundles in their type's file
    const lines = ndjson.flatMap((f) => fs.readFileSync(path.join(out, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    const deletions = lines.filter((l) => l.resourceType === 'Bundle');
    assert.deepEqual(deletions.map((b) => b.entry[0].request.url).sort(), [`Observation/${oid}`, 'Patient/m2', 'Patient/m3']);
    assert.equal(lines.length - deletions.length, 5 + 3 + 2 + 1 + 2); // versions
    assert.match(ex.stderr, /\b16 versions\b/); // a deletion is a version too

    const b = fresh('mig-b-');
    const im = await runBron(['import', ...storeArgs(b), '--history', ...ndjson.map((f) => path.join(out, f))], 60000);
    assert.equal(im.code, 0, `bron import: ${im.stdout}\n${im.stderr}`);
    const cmp = await runBron(['compare', where(a), where(b)]);
    assert.equal(cmp.code, 0, `bron compare: ${cmp.stdout}${cmp.stderr}`);
    assert.match(cmp.stdout, /^same: /m);

    // both servers serve the same _history (methods, etags, lastModified, resources)
    srv = await startOn(a);
    const copy = await startOn(b);
    try {
      const hb = await histories(copy, refs);
      assert.deepEqual(hb, before);
      assert.deepEqual(await histories(srv, refs), before);
      assertOutcome(await req(copy, 'GET', '/fhir/Patient/m2'), 410, 'a deleted Patient in the copy');
      // reads of the current versions agree too
      for (const ref of ['Patient/m0', 'Patient/m3', 'Encounter/enc']) {
        const x = await req(srv, 'GET', `/fhir/${ref}`);
        const y = await req(copy, 'GET', `/fhir/${ref}`);
        assert.equal(y.status, 200);
        assert.deepEqual(y.json, x.json, ref);
        assert.equal(y.headers.etag, x.headers.etag, ref);
        assert.equal(y.headers['last-modified'], x.headers['last-modified'], ref);
      }
      // a change in the copy
      await put(copy, { resourceType: 'Patient', id: 'm4', name: [{ family: 'Changed' }] });
    } finally {
      await srv.stop({ keepData: true });
      await copy.stop({ keepData: true });
    }
    const cmp2 = await runBron(['compare', where(a), where(b)]);
    assert.equal(cmp2.code, 1, `bron compare after a change: ${cmp2.stdout}${cmp2.stderr}`);
    assert.match(cmp2.stdout, /^DIFFERENT: /m);
    assert.match(cmp2.stdout, /Patient\/m4\/_history\/2: missing in A/, `the changed resource is not named:\n${cmp2.stdout}`);
    assert.doesNotMatch(cmp2.stdout, /Patient\/m[0-3]\b|Observation\/|Encounter\//, 'an unchanged resource is named');
  });
});
