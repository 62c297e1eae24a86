// The audit trail (issue 8, NEN 7513) over HTTP and on disk:
//   - every interaction leaves exactly the records it should, with the right
//     fields: create/update/PUT-create/PATCH/delete (in the write's own
//     transaction), read/vread/search/history/$everything and refusals (401,
//     403, 404; appended with the writer's next group, so the tests poll),
//     one record per patient whose data the answer held; GET /metadata none;
//   - a transaction that fails in the store leaves no resource, only records
//     of the attempt (outcome 4) and none claiming the change;
//   - a patient-context token sees its own patient's records only; another
//     organisation's token, or one without an AuditEvent scope, gets 403;
//   - staff search by patient, agent, date, action and outcome, sorted and
//     paged; unknown or bad parameters 400;
//   - AuditEvent cannot be written through the API (405, also in Bundles);
//   - the records are R4 AuditEvents (required elements, types, no empty
//     values here; tests/unit/audit/test_audit.c runs model_validate on them);
//   - tamper evidence: the store's append-only triggers, and `bron audit
//     verify` names the first changed / removed / inserted / moved record and
//     a cut-off end (SQL on a copy of an unencrypted store: sqlite3 on SQLite, psql on
//     PostgreSQL); the hash chain recomputed here matches the store's;
//   - signed checkpoints (serve --audit-key, bron audit checkpoint): verified
//     with --jwks, refused with another key, and an external checkpoint
//     catches a consistent truncation or rewrite that the chain alone cannot;
//   - under concurrent load (and on PostgreSQL with two servers on one
//     database) every record is there and the chain verifies.
// Runs on either engine (tests/run.sh runs it again with PostgreSQL).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, mintToken, runBron, sleep, tempDir, storeArgs, storeUrl, removeStore,
  pgTool, pgUrl, pgDbName, PG_MODE,
} from './lib/server.mjs';
import { assertOutcome, INSTANT_RE } from './lib/fhir.mjs';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const OWN = `${URA}|11111111`;
const ORG_A = `${URA}|22222222`;
const IDSYS = 'http://example.org/audit-test';
const JSON_CT = { 'content-type': 'application/fhir+json' };
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';

// --- tokens and requests -----------------------------------------------------

const tokens = new Map();
/** A token with subject `sub` (made once per subject and claims). */
function tok(sub, scope = 'system/*.cruds', extra = {}) {
  const key = JSON.stringify([sub, scope, extra]);
  if (!tokens.has(key)) tokens.set(key, mintToken({ sub, scope, ...extra }));
  return tokens.get(key);
}
const AUDITOR = () => tok('auditor', 'system/AuditEvent.rs');
const ADMIN = () => tok('setup');

/** A request to server s with token (null: none). */
function on(s, token, method, p, body, headers = {}) {
  const h = { accept: 'application/fhir+json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const opts = { headers: h, noToken: true };
  if (body !== undefined) {
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) Object.assign(h, JSON_CT);
  }
  return s.request(method, p, opts);
}

/** The AuditEvents of one search (every page), as resources. */
async function trail(s, query, token = AUDITOR()) {
  const out = [];
  let url = `/fhir/AuditEvent?${query}${query ? '&' : ''}_count=1000`;
  for (let i = 0; url && i < 100; i++) {
    const r = await on(s, token, 'GET', url);
    assert.equal(r.status, 200, `GET ${url}: ${r.status} ${r.text.slice(0, 300)}`);
    assert.equal(r.json.resourceType, 'Bundle');
    out.push(...(r.json.entry || []).map((e) => e.resource));
    const next = (r.json.link || []).find((l) => l.relation === 'next');
    url = next ? new URL(next.url).pathname + new URL(next.url).search : null;
  }
  return out;
}

/**
 * The records matching query once at least n are there (reads and refusals
 * are appended asynchronously), after a short wait that would let a surplus
 * show too. Oldest first.
 */
async function settled(s, query, n, ms = 3000) {
  const q = `${query}${query ? '&' : ''}_sort=date`;
  const deadline = Date.now() + ms;
  let got = await trail(s, q);
  while (got.length < n && Date.now() < deadline) {
    await sleep(50);
    got = await trail(s, q);
  }
  await sleep(200);
  return trail(s, q);
}

/** The records of agent sub: exactly n of them (asserted), oldest first. */
async function recordsOf(s, sub, n) {
  const got = await settled(s, `agent=${encodeURIComponent(sub)}`, n);
  assert.equal(got.length, n, `records of ${sub}: expected ${n}, got ${got.length}:\n${got.map(brief).join('\n')}`);
  return got;
}

const subtypes = (e) => (e.subtype || []).map((c) => c.code);
const entityRefs = (e) => (e.entity || []).filter((x) => x.what && x.what.reference).map((x) => x.what.reference);
const patientOf = (e) => {
  const p = (e.entity || []).filter((x) => x.role && x.role.code === '1' && x.what && x.what.reference);
  assert.ok(p.length <= 1, `more than one patient entity: ${JSON.stringify(e.entity)}`);
  return p.length ? p[0].what.reference : null;
};
const requestor = (e) => e.agent.find((a) => a.requestor === true);
const agentSub = (e) => {
  const a = requestor(e);
  return a && a.who && a.who.identifier ? a.who.identifier.value : null;
};
const requestIdOf = (e) => {
  const x = (e.entity || []).find((y) => y.type && y.type.code === 'XrequestId');
  return x ? x.what.identifier.value : null;
};
const queryOf = (e) => {
  const x = (e.entity || []).find((y) => y.query !== undefined);
  return x ? Buffer.from(x.query, 'base64').toString('utf8') : null;
};
const brief = (e) => `${e.id} ${e.action} ${e.outcome} ${subtypes(e).join(',')} ${agentSub(e)} ${patientOf(e)} ${entityRefs(e).join(' ')}`;

/** Assert the R4 shape of an AuditEvent (required elements, types, no empty values). */
function assertAuditEvent(e, what = '') {
  const at = `${what} AuditEvent/${e && e.id}`;
  assert.equal(e.resourceType, 'AuditEvent', at);
  assert.match(e.id, /^[1-9][0-9]*$/, `${at}: id`);
  noEmpty(e, at);
  // type 1..1 Coding
  assert.equal(typeof e.type, 'object', `${at}: type`);
  assert.equal(e.type.system, 'http://terminology.hl7.org/CodeSystem/audit-event-type');
  assert.equal(e.type.code, 'rest');
  if (e.subtype) {
    assert.ok(Array.isArray(e.subtype), `${at}: subtype is Coding[]`);
    for (const c of e.subtype) assert.ok(c.system && c.code, `${at}: subtype coding`);
  }
  assert.ok(['C', 'R', 'U', 'D', 'E'].includes(e.action), `${at}: action ${e.action}`);
  // recorded 1..1 instant
  assert.match(e.recorded, INSTANT_RE, `${at}: recorded`);
  assert.ok(['0', '4', '8', '12'].includes(e.outcome), `${at}: outcome ${e.outcome}`);
  if (e.outcomeDesc !== undefined) assert.equal(typeof e.outcomeDesc, 'string');
  // agent 1..*, each with requestor 1..1 boolean; exactly one requestor
  assert.ok(Array.isArray(e.agent) && e.agent.length >= 1, `${at}: agent 1..*`);
  for (const a of e.agent) {
    assert.equal(typeof a.requestor, 'boolean', `${at}: agent.requestor is required`);
    assert.ok(a.who && (a.who.identifier || a.who.reference || a.who.display), `${at}: agent.who`);
    if (a.type) assert.ok(Array.isArray(a.type.coding), `${at}: agent.type is a CodeableConcept`);
    if (a.policy) assert.ok(Array.isArray(a.policy) && a.policy.every((p) => typeof p === 'string'), `${at}: agent.policy uri[]`);
    if (a.network) assert.ok(['1', '2', '3', '4', '5'].includes(a.network.type), `${at}: agent.network.type`);
    if (a.purposeOfUse) assert.ok(Array.isArray(a.purposeOfUse) && a.purposeOfUse.every((p) => Array.isArray(p.coding)), `${at}: purposeOfUse CodeableConcept[]`);
  }
  assert.equal(e.agent.filter((a) => a.requestor).length, 1, `${at}: one requestor`);
  // source 1..1 with observer 1..1 (Reference)
  assert.ok(e.source && e.source.observer && (e.source.observer.display || e.source.observer.reference || e.source.observer.identifier), `${at}: source.observer`);
  if (e.source.type) assert.ok(Array.isArray(e.source.type), `${at}: source.type Coding[]`);
  if (e.purposeOfEvent) assert.ok(e.purposeOfEvent.every((p) => Array.isArray(p.coding)), `${at}: purposeOfEvent`);
  for (const x of e.entity || []) {
    // sev-1: either name or query, not both (there is no name here at all)
    assert.ok(x.what || x.query, `${at}: entity without what or query`);
    assert.equal(x.name, undefined);
    if (x.query !== undefined) assert.match(x.query, /^[A-Za-z0-9+/]+={0,2}$/, `${at}: entity.query base64Binary`);
    if (x.type) assert.ok(x.type.system && x.type.code, `${at}: entity.type Coding`);
    if (x.role) assert.ok(x.role.system && x.role.code, `${at}: entity.role Coding`);
  }
}

/** FHIR JSON has no null, empty strings, empty arrays or empty objects. */
function noEmpty(v, at, p = '') {
  assert.notEqual(v, null, `${at}: null at ${p}`);
  if (typeof v === 'string') assert.ok(v.length > 0 && v.trim() === v, `${at}: empty or padded string at ${p}`);
  else if (Array.isArray(v)) {
    assert.ok(v.length > 0, `${at}: empty array at ${p}`);
    v.forEach((x, i) => noEmpty(x, at, `${p}[${i}]`));
  } else if (typeof v === 'object') {
    assert.ok(Object.keys(v).length > 0, `${at}: empty object at ${p}`);
    for (const [k, x] of Object.entries(v)) noEmpty(x, at, `${p}.${k}`);
  }
}

const patient = (id) => ({ resourceType: 'Patient', id, name: [{ family: `Fam-${id}` }] });
const obs = (id, p, ident = `id-${id}`) => {
  const o = { resourceType: 'Observation', status: 'final', code: { text: 'audit' }, subject: { reference: `Patient/${p}` }, identifier: [{ system: IDSYS, value: ident }] };
  if (id) o.id = id;
  return o;
};

async function put(s, r) {
  const res = await on(s, ADMIN(), 'PUT', `/fhir/${r.resourceType}/${r.id}`, r);
  assert.ok([200, 201].includes(res.status), `${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  return res;
}

// --- the interactions --------------------------------------------------------

describe('audit records of each interaction', () => {
  let srv;
  before(async () => {
    srv = await startServer({ args: ['--organization', OWN] });
    for (const p of ['p1', 'p2']) {
      await put(srv, patient(p));
      await put(srv, obs(`o-${p}`, p));
      await put(srv, obs(`sx-${p}`, p, 'shared'));
    }
  });
  after(async () => { if (srv) await srv.stop(); });

  it('create (POST): one record, action C, outcome 0, the patient and the new version, the agent', async () => {
    const r = await on(srv, tok('i-create'), 'POST', '/fhir/Observation', obs(undefined, 'p1'), { 'X-Request-Id': 'rid-create-1' });
    assert.equal(r.status, 201, r.text);
    const id = r.json.id;
    const [e] = await recordsOf(srv, 'i-create', 1);
    assertAuditEvent(e, 'create');
    assert.equal(e.action, 'C');
    assert.equal(e.outcome, '0');
    assert.deepEqual(e.subtype, [{ system: RESTFUL, code: 'create' }]);
    assert.equal(e.outcomeDesc, 'HTTP 201');
    assert.deepEqual(entityRefs(e), ['Patient/p1', `Observation/${id}/_history/1`]);
    assert.equal(patientOf(e), 'Patient/p1');
    const pe = e.entity.find((x) => x.what && x.what.reference === 'Patient/p1');
    assert.equal(pe.role.code, '1');
    assert.equal(pe.type.code, '1');
    const oe = e.entity.find((x) => x.what && x.what.reference === `Observation/${id}/_history/1`);
    assert.equal(oe.role.code, '4');
    assert.equal(requestIdOf(e), 'rid-create-1');
    // the requestor: the token's subject, on the scopes, from loopback, for treatment
    const a = requestor(e);
    assert.deepEqual(a.who, { identifier: { value: 'i-create' } });
    assert.deepEqual(a.policy, ['scope']);
    assert.equal(a.network.address, '127.0.0.1');
    assert.equal(a.purposeOfUse[0].coding[0].code, 'TREAT');
    assert.equal(e.purposeOfEvent[0].coding[0].code, 'TREAT');
    // the organisation: the server's own (the token names none)
    const org = e.agent.find((x) => !x.requestor && x.type.coding[0].code === 'PROV');
    assert.ok(org, 'an organisation agent');
    assert.deepEqual(org.who, { identifier: { system: URA, value: '11111111' } });
    // and it is within the last minute
    assert.ok(Math.abs(Date.parse(e.recorded) - Date.now()) < 60000, `recorded ${e.recorded}`);
  });

  it('update (PUT of an existing resource): U, the new version', async () => {
    await put(srv, obs('u1', 'p1'));
    const r = await on(srv, tok('i-update'), 'PUT', '/fhir/Observation/u1', { ...obs('u1', 'p1'), status: 'amended' });
    assert.equal(r.status, 200, r.text);
    const [e] = await recordsOf(srv, 'i-update', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'U');
    assert.equal(e.outcome, '0');
    assert.deepEqual(subtypes(e), ['update']);
    assert.deepEqual(entityRefs(e), ['Patient/p1', 'Observation/u1/_history/2']);
  });

  it('PUT that creates: C (subtype update, HTTP 201)', async () => {
    const r = await on(srv, tok('i-putcreate'), 'PUT', '/fhir/Observation/pc1', obs('pc1', 'p2'));
    assert.equal(r.status, 201, r.text);
    const [e] = await recordsOf(srv, 'i-putcreate', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'C');
    assert.deepEqual(subtypes(e), ['update']);
    assert.equal(e.outcomeDesc, 'HTTP 201');
    assert.deepEqual(entityRefs(e), ['Patient/p2', 'Observation/pc1/_history/1']);
  });

  it('PATCH: U (subtype patch)', async () => {
    await put(srv, obs('pa1', 'p1'));
    const r = await on(srv, tok('i-patch'), 'PATCH', '/fhir/Observation/pa1',
      [{ op: 'replace', path: '/status', value: 'amended' }], { 'content-type': 'application/json-patch+json' });
    assert.equal(r.status, 200, r.text);
    const [e] = await recordsOf(srv, 'i-patch', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'U');
    assert.deepEqual(subtypes(e), ['patch']);
    assert.deepEqual(entityRefs(e), ['Patient/p1', 'Observation/pa1/_history/2']);
  });

  it('delete: D, and the patient whose data it was', async () => {
    await put(srv, obs('d1', 'p2'));
    const r = await on(srv, tok('i-delete'), 'DELETE', '/fhir/Observation/d1');
    assert.ok([200, 204].includes(r.status), r.text);
    const [e] = await recordsOf(srv, 'i-delete', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'D');
    assert.equal(e.outcome, '0');
    assert.deepEqual(subtypes(e), ['delete']);
    assert.equal(patientOf(e), 'Patient/p2');
    assert.ok(entityRefs(e).some((x) => x.startsWith('Observation/d1')), entityRefs(e).join());
  });

  it('a conditional delete of several: one record per resource, each with its own patient', async () => {
    for (const [id, p] of [['cd1', 'p1'], ['cd2', 'p2'], ['cd3', 'p1']]) await put(srv, obs(id, p, 'cdel'));
    const r = await on(srv, tok('i-cdelete'), 'DELETE', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|cdel`)}`);
    assert.equal(r.status, 200, r.text);
    const recs = await recordsOf(srv, 'i-cdelete', 3);
    const got = recs.map((e) => [entityRefs(e).find((x) => x.startsWith('Observation/')).split('/')[1], patientOf(e)]).sort();
    assert.deepEqual(got, [['cd1', 'Patient/p1'], ['cd2', 'Patient/p2'], ['cd3', 'Patient/p1']]);
    for (const e of recs) {
      assertAuditEvent(e);
      assert.equal(e.action, 'D');
      assert.equal(e.outcome, '0');
    }
  });

  it('a delete of nothing (unknown id, a condition matching none): D with HTTP 200, never a create', async () => {
    let r = await on(srv, tok('i-delnone'), 'DELETE', '/fhir/Observation/never-was');
    assert.ok([200, 204].includes(r.status), r.text);
    r = await on(srv, tok('i-delnone'), 'DELETE', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|matches-none`)}`);
    assert.ok([200, 204].includes(r.status), r.text);
    const recs = await recordsOf(srv, 'i-delnone', 2);
    for (const e of recs) {
      assertAuditEvent(e);
      assert.equal(e.action, 'D', brief(e));
      assert.equal(e.outcome, '0');
      assert.doesNotMatch(e.outcomeDesc, /201/);
      assert.deepEqual(subtypes(e), ['delete']);
    }
  });

  it('a create refused before the store (invalid resource, bad JSON): C with outcome 4, nothing stored', async () => {
    let r = await on(srv, tok('i-invalid'), 'POST', '/fhir/Observation', { ...obs(undefined, 'p1', 'invalid-one'), status: 'no-such-status' });
    assert.ok(r.status === 400 || r.status === 422, `${r.status} ${r.text.slice(0, 200)}`);
    r = await on(srv, tok('i-invalid'), 'POST', '/fhir/Observation', '{not json');
    assertOutcome(r, 400);
    const recs = await recordsOf(srv, 'i-invalid', 2);
    for (const e of recs) {
      assertAuditEvent(e);
      assert.equal(e.action, 'C');
      assert.equal(e.outcome, '4');
      assert.ok(!entityRefs(e).some((x) => x.includes('_history')), brief(e));
    }
    const s = await on(srv, ADMIN(), 'GET', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|invalid-one`)}`);
    assert.equal((s.json.entry || []).length, 0);
  });

  it('an update refused by the store (If-Match conflict): U with outcome 4, no version claimed, the resource unchanged', async () => {
    await put(srv, obs('im1', 'p2'));
    const r = await on(srv, tok('i-ifmatch'), 'PUT', '/fhir/Observation/im1', { ...obs('im1', 'p2'), status: 'amended' }, { 'If-Match': 'W/"7"' });
    assertOutcome(r, [409, 412]);
    const [e] = await recordsOf(srv, 'i-ifmatch', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'U');
    assert.equal(e.outcome, '4');
    assert.deepEqual(entityRefs(e), ['Patient/p2', 'Observation/im1']);
    const now = await on(srv, ADMIN(), 'GET', '/fhir/Observation/im1');
    assert.equal(now.json.meta.versionId, '1');
    assert.equal(now.json.status, 'final');
  });

  it('POST _search: the form parameters are the record\'s query', async () => {
    const r = await on(srv, tok('i-postsearch'), 'POST', '/fhir/Observation/_search', `identifier=${encodeURIComponent(`${IDSYS}|id-o-p2`)}`,
      { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.entry.length, 1);
    const [e] = await recordsOf(srv, 'i-postsearch', 1);
    assert.equal(queryOf(e), `identifier=${IDSYS}|id-o-p2`);
    assert.equal(patientOf(e), 'Patient/p2');
  });

  it('read: R (read), the patient and the version read', async () => {
    const r = await on(srv, tok('i-read'), 'GET', '/fhir/Observation/o-p1');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-read', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'R');
    assert.equal(e.outcome, '0');
    assert.deepEqual(subtypes(e), ['read']);
    assert.deepEqual(entityRefs(e), ['Patient/p1', `Observation/o-p1/_history/${r.json.meta.versionId}`]);
  });

  it('read of a Patient: the patient once', async () => {
    const r = await on(srv, tok('i-readpat'), 'GET', '/fhir/Patient/p2');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-readpat', 1);
    assert.equal(patientOf(e), 'Patient/p2');
    assert.deepEqual(entityRefs(e), ['Patient/p2', 'Patient/p2/_history/1']);
  });

  it('vread: R (vread), also of an older version, with its patient', async () => {
    await put(srv, obs('v1', 'p2'));
    await put(srv, { ...obs('v1', 'p2'), status: 'amended' });
    const r = await on(srv, tok('i-vread'), 'GET', '/fhir/Observation/v1/_history/1');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-vread', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'R');
    assert.deepEqual(subtypes(e), ['vread']);
    assert.deepEqual(entityRefs(e), ['Patient/p2', 'Observation/v1/_history/1']);
  });

  it('a search whose answer holds two patients\' data: exactly two records, one per patient, each with the query', async () => {
    const r = await on(srv, tok('i-search'), 'GET', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|shared`)}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.entry.length, 2);
    const recs = await recordsOf(srv, 'i-search', 2);
    const byPatient = Object.fromEntries(recs.map((e) => [patientOf(e), e]));
    assert.deepEqual(Object.keys(byPatient).sort(), ['Patient/p1', 'Patient/p2']);
    for (const p of ['p1', 'p2']) {
      const e = byPatient[`Patient/${p}`];
      assertAuditEvent(e);
      assert.equal(e.action, 'R');
      assert.equal(e.outcome, '0');
      assert.deepEqual(subtypes(e), ['search-type']);
      // only this patient's resources
      assert.deepEqual(entityRefs(e), [`Patient/${p}`, `Observation/sx-${p}/_history/1`]);
      assert.equal(queryOf(e), `identifier=${IDSYS}|shared`);
      const qe = e.entity.find((x) => x.query);
      assert.equal(qe.role.code, '24');
    }
  });

  it('a search that finds nothing: one record, no patient', async () => {
    const r = await on(srv, tok('i-search0'), 'GET', '/fhir/Observation?identifier=nothing-like-this');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-search0', 1);
    assertAuditEvent(e);
    assert.equal(patientOf(e), null);
    assert.equal(queryOf(e), 'identifier=nothing-like-this');
  });

  it('a search without parameters: no (empty) query entity', async () => {
    const r = await on(srv, tok('i-search-all'), 'GET', '/fhir/Patient');
    assert.equal(r.status, 200);
    const recs = await recordsOf(srv, 'i-search-all', 2); // p1 and p2
    for (const e of recs) {
      assertAuditEvent(e);
      assert.equal(queryOf(e), null);
    }
  });

  it('history: R (history-instance) with the patient and the versions', async () => {
    await put(srv, obs('h1', 'p1'));
    await put(srv, { ...obs('h1', 'p1'), status: 'amended' });
    const r = await on(srv, tok('i-history'), 'GET', '/fhir/Observation/h1/_history');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-history', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'R');
    assert.deepEqual(subtypes(e), ['history-instance']);
    assert.equal(patientOf(e), 'Patient/p1');
    assert.deepEqual(entityRefs(e).sort(), ['Observation/h1/_history/1', 'Observation/h1/_history/2', 'Patient/p1']);
  });

  it('$everything: E (operation $everything) with the patient', async () => {
    const r = await on(srv, tok('i-everything'), 'GET', '/fhir/Patient/p2/$everything');
    assert.equal(r.status, 200);
    const [e] = await recordsOf(srv, 'i-everything', 1);
    assertAuditEvent(e);
    assert.equal(e.action, 'E');
    assert.equal(e.outcome, '0');
    assert.deepEqual(e.subtype, [{ system: RESTFUL, code: 'operation' }, { system: 'urn:ietf:rfc:3986', code: '$everything' }]);
    assert.equal(patientOf(e), 'Patient/p2');
    assert.ok(entityRefs(e).includes('Observation/o-p2/_history/1'), entityRefs(e).join());
    assert.ok(!entityRefs(e).some((x) => x.includes('p1')), `nothing of p1: ${entityRefs(e).join()}`);
  });

  it('a refusal for lacking scopes (403): one record, outcome 4', async () => {
    const r = await on(srv, tok('i-403', 'system/Patient.rs'), 'GET', '/fhir/Observation/o-p1');
    assertOutcome(r, 403);
    const [e] = await recordsOf(srv, 'i-403', 1);
    assertAuditEvent(e);
    assert.equal(e.outcome, '4');
    assert.equal(e.action, 'R');
    assert.equal(e.outcomeDesc.slice(0, 8), 'HTTP 403');
    assert.equal(agentSub(e), 'i-403');
    assert.ok(entityRefs(e).includes('Observation/o-p1'), entityRefs(e).join());
  });

  it('a refusal for no token or a bad one (401): one record each, outcome 4, no agent identity', async () => {
    const t0 = new Date(Date.now() - 2000).toISOString();
    const cases = [
      ['rid-401-none', null],
      ['rid-401-bad', 'not.a.jwt'],
      ['rid-401-audience', mintToken({ sub: 'i-401-audience', aud: 'someone-else' })],
    ];
    for (const [rid, t] of cases) {
      const r = await on(srv, t, 'GET', '/fhir/Observation/o-p1', undefined, { 'X-Request-Id': rid });
      assert.equal(r.status, 401, `${rid}: ${r.status}`);
    }
    const want = cases.map(([rid]) => rid);
    const mine = (all) => all.filter((e) => want.includes(requestIdOf(e)));
    let recs = [];
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      recs = mine(await trail(srv, `outcome=4&date=ge${t0}`));
      if (recs.length >= want.length) break;
      await sleep(50);
    }
    await sleep(200);
    recs = mine(await trail(srv, `outcome=4&date=ge${t0}`));
    assert.deepEqual(recs.map(requestIdOf).sort(), [...want].sort(), 'one record per refused request');
    for (const e of recs) {
      assertAuditEvent(e, '401');
      assert.equal(e.outcome, '4');
      assert.match(e.outcomeDesc, /^HTTP 401/);
      assert.equal(agentSub(e), null);
      assert.deepEqual(requestor(e).who, { display: 'unauthenticated' });
      assert.deepEqual(requestor(e).policy, ['no-token']);
    }
    // nothing under the refused token's subject either
    assert.equal((await trail(srv, 'agent=i-401-audience')).length, 0);
  });

  it('a read of an unknown resource (404): outcome 4', async () => {
    const r = await on(srv, tok('i-404'), 'GET', '/fhir/Observation/no-such-thing');
    assertOutcome(r, 404);
    const [e] = await recordsOf(srv, 'i-404', 1);
    assertAuditEvent(e);
    assert.equal(e.outcome, '4');
    assert.equal(e.action, 'R');
    assert.deepEqual(entityRefs(e), ['Observation/no-such-thing']);
  });

  it('GET /metadata is not audited', async () => {
    const t0 = new Date(Date.now() - 2000).toISOString();
    let r = await on(srv, null, 'GET', '/fhir/metadata', undefined, { 'X-Request-Id': 'rid-metadata' });
    assert.equal(r.status, 200);
    r = await on(srv, tok('i-metadata'), 'GET', '/fhir/metadata', undefined, { 'X-Request-Id': 'rid-metadata-2' });
    assert.equal(r.status, 200);
    // a request that is audited, after them: once its record is there, theirs would be too
    r = await on(srv, tok('i-metadata'), 'GET', '/fhir/Patient/p1', undefined, { 'X-Request-Id': 'rid-after-metadata' });
    assert.equal(r.status, 200);
    await recordsOf(srv, 'i-metadata', 1);
    const all = await trail(srv, `date=ge${t0}`);
    assert.ok(all.some((e) => requestIdOf(e) === 'rid-after-metadata'));
    assert.ok(!all.some((e) => ['rid-metadata', 'rid-metadata-2'].includes(requestIdOf(e))), 'a record of GET /metadata');
  });

  it('a batch: one record per entry, each with its own outcome', async () => {
    const r = await on(srv, tok('i-batch'), 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'batch', entry: [
        { resource: obs(undefined, 'p1', 'batch-ok'), request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: 'Observation/o-p2' } },
        { request: { method: 'GET', url: 'Observation/not-there' } },
      ],
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.entry.map((e) => e.response.status.slice(0, 3)), ['201', '200', '404']);
    const recs = await settled(srv, 'agent=i-batch', 4);
    assert.equal(recs.length, 4, recs.map(brief).join('\n'));
    const by = (sub) => recs.filter((e) => subtypes(e)[0] === sub);
    assert.equal(by('create').length, 1, recs.map(brief).join('\n'));
    assert.equal(by('create')[0].outcome, '0');
    assert.equal(patientOf(by('create')[0]), 'Patient/p1');
    const reads = by('read');
    assert.equal(reads.length, 2, recs.map(brief).join('\n'));
    assert.deepEqual(reads.map((e) => e.outcome).sort(), ['0', '4']);
    assert.equal(patientOf(reads.find((e) => e.outcome === '0')), 'Patient/p2');
    assert.deepEqual(entityRefs(reads.find((e) => e.outcome === '4')), ['Observation/not-there']);
    const batch = by('batch');
    assert.equal(batch.length, 1, 'one record of the batch itself');
    assert.equal(batch[0].action, 'E');
  });

  it('access under consent names the consent, a default or break-the-glass as the policy', async () => {
    const c = await startServer({ args: ['--organization', OWN, '--break-glass', 'BTG'] });
    try {
      await put(c, patient('pc'));
      await put(c, obs('o-pc', 'pc'));
      await put(c, patient('pd'));
      await put(c, obs('o-pd', 'pd'));
      await put(c, {
        resourceType: 'Consent', id: 'cn-pc', status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: 'Patient/pc' },
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
        provision: { type: 'permit', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { identifier: { system: URA, value: '22222222' } } }] },
      });
      let r = await on(c, tok('org-a-pc', 'patient/*.rs', { org: ORG_A, patient: 'pc' }), 'GET', '/fhir/Observation/o-pc');
      assert.equal(r.status, 200, r.text);
      r = await on(c, tok('org-a-pd', 'patient/*.rs', { org: ORG_A, patient: 'pd' }), 'GET', '/fhir/Observation/o-pd');
      assertOutcome(r, 404);
      r = await on(c, tok('org-a-btg', 'patient/*.rs', { org: ORG_A, patient: 'pd', purpose: 'BTG' }), 'GET', '/fhir/Observation/o-pd');
      assert.equal(r.status, 200, r.text);
      const [permit] = await recordsOf(c, 'org-a-pc', 1);
      assertAuditEvent(permit);
      assert.deepEqual(requestor(permit).policy, ['Consent/cn-pc']);
      assert.equal(patientOf(permit), 'Patient/pc');
      const org = permit.agent.find((x) => !x.requestor && x.type.coding[0].code === 'PROV');
      assert.deepEqual(org.who, { identifier: { system: URA, value: '22222222' } });
      const [deny] = await recordsOf(c, 'org-a-pd', 1);
      assert.deepEqual(requestor(deny).policy, ['default:opt-in']);
      assert.equal(deny.outcome, '4');
      assert.equal(patientOf(deny), 'Patient/pd');
      const [btg] = await recordsOf(c, 'org-a-btg', 1);
      assertAuditEvent(btg);
      assert.match(requestor(btg).policy[0], /^break-the-glass:/);
      assert.equal(btg.outcome, '0');
      assert.deepEqual(btg.purposeOfEvent[0].coding.map((x) => x.code), ['BTG']);
      // the staff who look after the patient see all three in the patient's trail
      const mine = await trail(c, 'patient=pd');
      assert.ok(mine.some((e) => agentSub(e) === 'org-a-btg') && mine.some((e) => agentSub(e) === 'org-a-pd'));
    } finally {
      await c.stop();
    }
  });

  it('a token of another organisation may not read the trail, even in its patient\'s context (403)', async () => {
    const t = tok('org-a-auditor', 'system/AuditEvent.rs patient/*.rs', { org: ORG_A, patient: 'p1' });
    for (const p of ['/fhir/AuditEvent', '/fhir/AuditEvent?patient=p1', '/fhir/AuditEvent/1']) {
      const r = await on(srv, t, 'GET', p);
      assertOutcome(r, 403, p);
    }
    // and that refusal is in the trail too
    const recs = await recordsOf(srv, 'org-a-auditor', 3);
    assert.ok(recs.every((e) => e.outcome === '4'));
  });

  it('a token without an AuditEvent scope may not read the trail (403)', async () => {
    for (const p of ['/fhir/AuditEvent', '/fhir/AuditEvent/1']) {
      const r = await on(srv, tok('no-audit-scope', 'system/Patient.rs system/Observation.rs'), 'GET', p);
      assertOutcome(r, 403, p);
    }
  });

  it('a wildcard scope (user/*.rs, system/*.cruds) does not open everyone\'s trail: that takes a scope on AuditEvent (403)', async () => {
    for (const scope of ['user/*.rs', 'system/*.cruds', 'user/*.*']) {
      for (const p of ['/fhir/AuditEvent', '/fhir/AuditEvent?patient=p1', '/fhir/AuditEvent/1']) {
        const r = await on(srv, tok(`wild-${scope}`, scope), 'GET', p);
        assertOutcome(r, 403, `${scope} ${p}`);
      }
    }
  });

  it('a patient/*.rs token in p1\'s context reads p1\'s own records', async () => {
    const r = await on(srv, tok('wild-patient', 'patient/*.rs', { patient: 'p1' }), 'GET', '/fhir/AuditEvent?_count=50');
    assert.equal(r.status, 200, r.text);
    const entries = r.json.entry || [];
    assert.ok(entries.length > 0, 'p1 has records');
    for (const e of entries) {
      const pats = (e.resource.entity || []).filter((x) => x.role?.code === '1').map((x) => x.what.reference);
      assert.deepEqual(pats, ['Patient/p1'], JSON.stringify(e.resource.entity));
    }
  });

  it('every record of the server is an R4 AuditEvent; reading one by id gives the same', async () => {
    const all = await trail(srv, '');
    assert.ok(all.length > 30, `${all.length} records`);
    for (const e of all) assertAuditEvent(e);
    const seqs = all.map((e) => Number(e.id));
    assert.equal(new Set(seqs).size, seqs.length, 'ids are unique');
    const one = all[Math.floor(all.length / 2)];
    const r = await on(srv, AUDITOR(), 'GET', `/fhir/AuditEvent/${one.id}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.etag, 'W/"1"');
    assert.deepEqual(r.json, one);
    for (const bad of ['0', '-1', 'abc', '99999999', '1x']) {
      assertOutcome(await on(srv, AUDITOR(), 'GET', `/fhir/AuditEvent/${bad}`), [400, 404], `AuditEvent/${bad}`);
    }
  });
});

// --- failed transactions -----------------------------------------------------

describe('a transaction that fails in the store', () => {
  let srv;
  before(async () => {
    srv = await startServer();
    for (const p of ['p1', 'p2']) await put(srv, patient(p));
    await put(srv, obs('t-p2', 'p2'));
    // two resources answering one If-None-Exist
    await put(srv, obs('m1', 'p1', 'twice'));
    await put(srv, obs('m2', 'p2', 'twice'));
  });
  after(async () => { if (srv) await srv.stop(); });

  const cases = [
    ['an If-Match version conflict', 'tx-ifmatch', { resource: obs('t-p2', 'p2'), request: { method: 'PUT', url: 'Observation/t-p2', ifMatch: 'W/"99"' } }],
    ['an If-None-Exist matching several', 'tx-ifnone', { resource: obs(undefined, 'p2', 'new-one'), request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${IDSYS}|twice` } }],
  ];
  for (const [what, sub, failing] of cases) {
    it(`${what}: nothing stored, the attempt recorded with outcome 4, nothing claims the change`, async () => {
      const marker = `created-by-${sub}`;
      const r = await on(srv, tok(sub), 'POST', '/fhir', {
        resourceType: 'Bundle', type: 'transaction', entry: [
          { fullUrl: 'urn:uuid:0f4c2b7e-0000-4000-8000-000000000001', resource: obs(undefined, 'p1', marker), request: { method: 'POST', url: 'Observation' } },
          failing,
        ],
      });
      assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.text.slice(0, 300)}`);
      // nothing of it stored
      const s = await on(srv, ADMIN(), 'GET', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|${marker}`)}`);
      assert.equal((s.json.entry || []).length, 0, 'the valid create of the failed transaction was stored');
      const t = await on(srv, ADMIN(), 'GET', '/fhir/Observation/t-p2');
      assert.equal(t.json.meta.versionId, '1');
      // the records of the attempt
      const recs = await settled(srv, `agent=${sub}`, 3);
      assert.ok(recs.length >= 2, recs.map(brief).join('\n'));
      for (const e of recs) {
        assertAuditEvent(e, what);
        assert.notEqual(e.outcome, '0', `a record claims success: ${brief(e)}`);
        for (const ref of entityRefs(e)) assert.ok(!/_history\//.test(ref) || ref.startsWith('Patient/'), `a record names a version that was never stored: ${brief(e)}`);
      }
      const create = recs.filter((e) => subtypes(e)[0] === 'create');
      assert.ok(create.length >= 1, `the create is recorded: ${recs.map(brief).join('\n')}`);
      assert.ok(create.some((e) => patientOf(e) === 'Patient/p1'));
      const tx = recs.filter((e) => subtypes(e)[0] === 'transaction');
      assert.equal(tx.length, 1, 'one record of the transaction itself');
      // the failing entry names its patient
      assert.ok(recs.some((e) => patientOf(e) === 'Patient/p2'), recs.map(brief).join('\n'));
    });
  }

  it('a successful transaction: a record per entry with outcome 0', async () => {
    const r = await on(srv, tok('tx-ok'), 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { resource: obs(undefined, 'p1', 'tx-ok-1'), request: { method: 'POST', url: 'Observation' } },
        { resource: { ...obs('t-ok', 'p2') }, request: { method: 'PUT', url: 'Observation/t-ok' } },
      ],
    });
    assert.equal(r.status, 200, r.text);
    const recs = await settled(srv, 'agent=tx-ok', 3);
    assert.equal(recs.length, 3, recs.map(brief).join('\n'));
    assert.ok(recs.every((e) => e.outcome === '0'));
    assert.deepEqual(recs.filter((e) => e.action === 'C').map(patientOf).sort(), ['Patient/p1', 'Patient/p2']);
  });
});

// --- who looked: the patient's own view -------------------------------------

describe('the patient sees who looked, and only that', () => {
  let srv;
  before(async () => {
    srv = await startServer();
    for (const p of ['p1', 'p2']) {
      await put(srv, patient(p));
      await put(srv, obs(`o-${p}`, p));
    }
    // staff look at both
    for (const p of ['p1', 'p2']) {
      assert.equal((await on(srv, tok('dr-who'), 'GET', `/fhir/Observation/o-${p}`)).status, 200);
    }
    await recordsOf(srv, 'dr-who', 2);
  });
  after(async () => { if (srv) await srv.stop(); });

  const P1 = () => tok('pat-p1', 'patient/*.rs', { patient: 'p1' });

  it('a staff search naming two patients shows its query to staff, not in a patient\'s view', async () => {
    const r = await on(srv, tok('dr-query'), 'GET', '/fhir/Patient?_id=p1,p2');
    assert.equal(r.status, 200);
    const staff = await recordsOf(srv, 'dr-query', 2);
    assert.ok(staff.every((e) => (e.entity || []).some((x) => x.query)), 'staff see the query');
    const mine = (await trail(srv, 'agent=dr-query', P1()));
    assert.ok(mine.length >= 1, 'p1 sees the search that returned it');
    for (const e of mine) {
      assert.ok(!(e.entity || []).some((x) => x.query), `no query in p1's view: ${JSON.stringify(e.entity)}`);
      assert.equal(patientOf(e), 'Patient/p1');
    }
  });

  it('GET AuditEvent and ?patient=p1 give p1\'s records only, and all of them', async () => {
    const staff = await trail(srv, 'patient=p1');
    assert.ok(staff.length >= 2);
    for (const q of ['', 'patient=p1', 'patient=Patient/p1']) {
      const mine = await trail(srv, q, P1());
      assert.ok(mine.length >= staff.length, `${q}: ${mine.length} < ${staff.length}`);
      for (const e of mine) {
        assertAuditEvent(e);
        assert.equal(patientOf(e), 'Patient/p1', `${q}: ${brief(e)}`);
      }
      const ids = new Set(mine.map((e) => e.id));
      for (const e of staff) assert.ok(ids.has(e.id), `${q}: record ${e.id} of p1 missing`);
      // and the doctor's look is there
      assert.ok(mine.some((e) => agentSub(e) === 'dr-who' && entityRefs(e).includes('Observation/o-p1/_history/1')));
    }
  });

  it('?patient=p2 is empty; AuditEvent/<a p2 record> and a record without patient are 404', async () => {
    const r = await on(srv, P1(), 'GET', '/fhir/AuditEvent?patient=p2');
    assert.equal(r.status, 200);
    assert.equal((r.json.entry || []).length, 0);
    const p2 = (await trail(srv, 'patient=p2'))[0];
    assert.ok(p2);
    assertOutcome(await on(srv, P1(), 'GET', `/fhir/AuditEvent/${p2.id}`), 404);
    const p1 = (await trail(srv, 'patient=p1'))[0];
    const own = await on(srv, P1(), 'GET', `/fhir/AuditEvent/${p1.id}`);
    assert.equal(own.status, 200);
    assert.equal(patientOf(own.json), 'Patient/p1');
    // a record of no patient (the staff's trail search without patient)
    await trail(srv, 'action=C');
    const none = (await settled(srv, 'agent=auditor', 1)).find((e) => patientOf(e) === null);
    assert.ok(none, 'a record without patient');
    assertOutcome(await on(srv, P1(), 'GET', `/fhir/AuditEvent/${none.id}`), 404);
  });

  it('the patient\'s own looking at the trail is recorded, under the patient', async () => {
    await trail(srv, 'action=R', P1());
    const recs = await settled(srv, 'agent=pat-p1', 1);
    assert.ok(recs.length >= 1);
    for (const e of recs) assert.equal(patientOf(e), 'Patient/p1');
  });
});

// --- searching the trail -----------------------------------------------------

describe('searching the trail', () => {
  let srv;
  let all; // every record, oldest first
  before(async () => {
    srv = await startServer();
    for (const p of ['p1', 'p2', 'p3']) {
      await put(srv, patient(p));
      await put(srv, obs(`o-${p}`, p));
    }
    for (let i = 0; i < 3; i++) {
      await on(srv, tok('s-reader'), 'GET', '/fhir/Observation/o-p1');
      await on(srv, tok('s-reader'), 'GET', '/fhir/Observation/o-p2');
      await sleep(20);
    }
    await on(srv, tok('s-deleter'), 'DELETE', '/fhir/Observation/o-p3');
    await on(srv, tok('s-reader'), 'GET', '/fhir/Observation/missing');
    await recordsOf(srv, 's-reader', 7);
    all = await trail(srv, '_sort=date');
  });
  after(async () => { if (srv) await srv.stop(); });

  it('_sort=date is oldest first, -date and the default newest first', async () => {
    const asc = all.map((e) => Number(e.id));
    assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
    for (let i = 1; i < all.length; i++) assert.ok(Date.parse(all[i].recorded) >= Date.parse(all[i - 1].recorded), 'recorded in order');
    const desc = (await trail(srv, '_sort=-date')).map((e) => Number(e.id));
    const dflt = (await trail(srv, '')).map((e) => Number(e.id));
    for (const d of [desc, dflt]) {
      assert.deepEqual(d, [...d].sort((a, b) => b - a));
      // the same records (and the searches made meanwhile, which are newer)
      for (const id of asc) assert.ok(d.includes(id));
    }
  });

  it('by patient, agent, action and outcome', async () => {
    const p1 = await trail(srv, 'patient=p1');
    assert.ok(p1.length >= 4);
    assert.ok(p1.every((e) => patientOf(e) === 'Patient/p1'));
    const p1ref = await trail(srv, 'patient=Patient/p1');
    assert.ok(p1ref.length >= p1.length && p1ref.every((e) => patientOf(e) === 'Patient/p1'));
    const reader = await trail(srv, 'agent=s-reader');
    assert.equal(reader.length, 7);
    assert.ok(reader.every((e) => agentSub(e) === 's-reader'));
    assert.equal((await trail(srv, `agent=${encodeURIComponent('urn:x|s-reader')}`)).length, 7, 'agent as system|value');
    assert.equal((await trail(srv, 'agent:identifier=s-reader')).length, 7);
    const both = await trail(srv, 'agent=s-reader&patient=p2');
    assert.equal(both.length, 3);
    const d = await trail(srv, 'action=D');
    assert.equal(d.length, 1);
    assert.equal(agentSub(d[0]), 's-deleter');
    assert.equal(patientOf(d[0]), 'Patient/p3');
    const c = await trail(srv, 'action=C');
    assert.ok(c.length >= 6 && c.every((e) => e.action === 'C'));
    const failed = await trail(srv, 'agent=s-reader&outcome=4');
    assert.equal(failed.length, 1);
    assert.deepEqual(entityRefs(failed[0]), ['Observation/missing']);
    assert.equal((await trail(srv, 'agent=s-reader&outcome=0')).length, 6);
    assert.equal((await trail(srv, 'agent=s-reader&outcome=8')).length, 0);
    assert.equal((await trail(srv, 'agent=nobody-at-all')).length, 0);
    assert.equal((await trail(srv, 'patient=p1&patient=p2')).length, 0, 'two patients at once: none');
  });

  it('by date: ge, le, gt, lt, eq and a range', async () => {
    const mid = all[Math.floor(all.length / 2)];
    const t = mid.recorded;
    const ms = Date.parse(t);
    const ge = await trail(srv, `date=ge${t}&_sort=date`);
    assert.ok(ge.every((e) => Date.parse(e.recorded) >= ms));
    assert.ok(ge.some((e) => e.id === mid.id), 'ge includes the record itself');
    assert.ok(all.filter((e) => Date.parse(e.recorded) >= ms).every((e) => ge.some((x) => x.id === e.id)));
    const le = await trail(srv, `date=le${t}`);
    assert.ok(le.every((e) => Date.parse(e.recorded) <= ms));
    assert.ok(le.some((e) => e.id === mid.id), 'le includes the record itself');
    assert.deepEqual(le.map((e) => e.id).sort(), all.filter((e) => Date.parse(e.recorded) <= ms).map((e) => e.id).sort());
    const gt = await trail(srv, `date=gt${t}`);
    assert.ok(gt.every((e) => Date.parse(e.recorded) > ms) && !gt.some((e) => e.id === mid.id));
    const lt = await trail(srv, `date=lt${t}`);
    assert.ok(lt.every((e) => Date.parse(e.recorded) < ms) && !lt.some((e) => e.id === mid.id));
    const range = await trail(srv, `date=ge${t}&date=le${t}`);
    assert.ok(range.some((e) => e.id === mid.id));
    assert.ok(range.every((e) => Date.parse(e.recorded) === ms));
    const eq = await trail(srv, `date=${t}`);
    assert.deepEqual(eq.map((e) => e.id).sort(), range.map((e) => e.id).sort());
    const day = t.slice(0, 10);
    const today = await trail(srv, `date=eq${day}`);
    assert.ok(all.every((e) => e.recorded.slice(0, 10) !== day || today.some((x) => x.id === e.id)));
    assert.equal((await trail(srv, 'date=le2000-01-01')).length, 0);
    assert.equal((await trail(srv, 'date=ge2999-01-01')).length, 0);
  });

  it('_count pages: the next links walk every record once, in order', async () => {
    for (const sort of ['', '&_sort=date']) {
      const ids = [];
      let url = `/fhir/AuditEvent?agent=s-reader&_count=2${sort}`;
      let pages = 0;
      while (url) {
        const r = await on(srv, AUDITOR(), 'GET', url);
        assert.equal(r.status, 200, url);
        const entries = r.json.entry || [];
        assert.ok(entries.length <= 2);
        ids.push(...entries.map((e) => Number(e.resource.id)));
        const self = r.json.link.find((l) => l.relation === 'self');
        assert.ok(self && !self.url.includes('_cursor'), 'self link without cursor');
        const next = r.json.link.find((l) => l.relation === 'next');
        url = next ? new URL(next.url).pathname + new URL(next.url).search : null;
        if (next) assert.equal(entries.length, 2);
        pages++;
        assert.ok(pages < 20);
      }
      assert.equal(ids.length, 7, `${sort}: ${ids}`);
      assert.equal(new Set(ids).size, 7);
      assert.deepEqual(ids, [...ids].sort((a, b) => (sort ? a - b : b - a)));
      assert.ok(pages >= 4);
    }
  });

  it('POST AuditEvent/_search: the form body filters as the URL does', async () => {
    const r = await on(srv, AUDITOR(), 'POST', '/fhir/AuditEvent/_search', 'agent=s-reader&outcome=4', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.entry.length, 1);
    assert.deepEqual(entityRefs(r.json.entry[0].resource), ['Observation/missing']);
    const g = await on(srv, AUDITOR(), 'GET', '/fhir/AuditEvent/_search?agent=s-deleter');
    assert.equal(g.status, 200);
    assert.equal(g.json.entry.length, 1);
    const bad = await on(srv, AUDITOR(), 'POST', '/fhir/AuditEvent/_search', '{"agent":"x"}', { 'content-type': 'application/json' });
    assertOutcome(bad, 415);
    assertOutcome(await on(srv, AUDITOR(), 'POST', '/fhir/AuditEvent/_search', 'bogus=1', { 'content-type': 'application/x-www-form-urlencoded' }), 400);
  });

  it('unknown parameters and bad values: 400', async () => {
    for (const q of ['foo=1', 'name=x', '_id=1', 'subtype=read', 'action=X', 'action=CR', 'outcome=3', 'outcome=x',
      'date=yesterday', 'date=xx2020-01-01', '_count=0', '_count=abc', '_count=100000', '_sort=name', '_sort=_lastUpdated',
      '_cursor=abc', '_cursor=-5']) {
      const r = await on(srv, AUDITOR(), 'GET', `/fhir/AuditEvent?${q}`);
      assertOutcome(r, 400, q);
    }
  });
});

// --- append-only through the API ---------------------------------------------

describe('the trail cannot be written through the API', () => {
  let srv;
  before(async () => {
    srv = await startServer();
    await put(srv, patient('p1'));
    await on(srv, ADMIN(), 'GET', '/fhir/Patient/p1');
    await settled(srv, 'agent=setup', 2);
  });
  after(async () => { if (srv) await srv.stop(); });

  const event = {
    resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: '2020-01-01T00:00:00Z', agent: [{ who: { display: 'forger' }, requestor: true }], source: { observer: { display: 'x' } },
  };

  it('POST, PUT, PATCH, DELETE of AuditEvent: 405 with Allow: GET, and the record unchanged', async () => {
    const before1 = await on(srv, AUDITOR(), 'GET', '/fhir/AuditEvent/1');
    assert.equal(before1.status, 200);
    const tries = [
      ['POST', '/fhir/AuditEvent', event],
      ['PUT', '/fhir/AuditEvent/1', { ...event, id: '1' }],
      ['PUT', '/fhir/AuditEvent?patient=p1', event],
      ['PATCH', '/fhir/AuditEvent/1', [{ op: 'replace', path: '/outcome', value: '8' }]],
      ['DELETE', '/fhir/AuditEvent/1'],
      ['DELETE', '/fhir/AuditEvent?patient=p1'],
      ['DELETE', '/fhir/AuditEvent'],
      ['POST', '/fhir/AuditEvent/1', event],
    ];
    for (const [m, p, body] of tries) {
      const r = await on(srv, ADMIN(), m, p, body, m === 'PATCH' ? { 'content-type': 'application/json-patch+json' } : {});
      assertOutcome(r, 405, `${m} ${p}`);
      assert.equal(r.headers.allow, 'GET', `${m} ${p}: Allow`);
    }
    const after1 = await on(srv, AUDITOR(), 'GET', '/fhir/AuditEvent/1');
    assert.deepEqual(after1.json, before1.json);
    assert.equal((await trail(srv, 'agent=forger')).length, 0);
  });

  it('in a transaction Bundle: the Bundle fails and nothing of it is stored', async () => {
    for (const entry of [
      { resource: event, request: { method: 'POST', url: 'AuditEvent' } },
      { resource: { ...event, id: '1' }, request: { method: 'PUT', url: 'AuditEvent/1' } },
      { request: { method: 'DELETE', url: 'AuditEvent/1' } },
    ]) {
      const r = await on(srv, ADMIN(), 'POST', '/fhir', {
        resourceType: 'Bundle', type: 'transaction', entry: [
          { resource: obs(undefined, 'p1', 'with-audit-event'), request: { method: 'POST', url: 'Observation' } },
          entry,
        ],
      });
      assert.ok(r.status >= 400 && r.status < 500, `${entry.request.method}: ${r.status} ${r.text.slice(0, 300)}`);
      const s = await on(srv, ADMIN(), 'GET', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|with-audit-event`)}`);
      assert.equal((s.json.entry || []).length, 0, `${entry.request.method}: the Observation was stored`);
    }
    assert.equal((await on(srv, AUDITOR(), 'GET', '/fhir/AuditEvent/1')).status, 200);
  });

  it('in a batch Bundle: that entry is 405, the others go through', async () => {
    const r = await on(srv, ADMIN(), 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'batch', entry: [
        { resource: event, request: { method: 'POST', url: 'AuditEvent' } },
        { resource: obs(undefined, 'p1', 'batch-with-audit-event'), request: { method: 'POST', url: 'Observation' } },
      ],
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.entry[0].response.status, /^405/);
    assert.match(r.json.entry[1].response.status, /^201/);
    assert.equal((await trail(srv, 'agent=forger')).length, 0);
  });
});

// --- tamper evidence on disk -------------------------------------------------

/** The engine-specific bits of changing a stopped server's store behind its back. */
const db = {
  /** A copy of the store of dir (a new dir; on PostgreSQL a new database from it). */
  copy(dir) {
    const to = tempDir('audit-copy-');
    if (!PG_MODE) {
      fs.cpSync(dir, to, { recursive: true });
      return to;
    }
    const src = pgDbName(storeUrl(dir));
    const name = `${src.slice(0, 30)}_c${Math.random().toString(36).slice(2, 8)}`;
    const r = pgTool('createdb', ['-T', src, name]);
    if (r.status !== 0) throw new Error(`createdb -T ${src}: ${r.stderr}`);
    fs.writeFileSync(path.join(to, '.pg-store'), `${pgUrl(name)}\n`);
    return to;
  },
  /** Run SQL on the store of dir: { ok, out, err }. */
  sql(dir, sql) {
    const r = PG_MODE
      ? pgTool('psql', ['-d', pgDbName(storeUrl(dir)), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql])
      : spawnSync('sqlite3', ['-bail', path.join(dir, 'bron.db'), sql], { encoding: 'utf8' });
    return { ok: r.status === 0, out: (r.stdout || '').trim(), err: r.stderr || '' };
  },
  exec(dir, sql) {
    const r = db.sql(dir, sql);
    assert.ok(r.ok, `SQL failed: ${sql}\n${r.err}`);
    return r.out;
  },
  blob: (hex) => (PG_MODE ? `'\\x${hex}'::bytea` : `X'${hex}'`),
  text: (s) => (s === null ? 'NULL' : `'${String(s).replace(/'/g, "''")}'`),
  /** Let UPDATE and DELETE through (the triggers off). */
  unlock(dir) {
    db.exec(dir, PG_MODE ? 'ALTER TABLE audit DISABLE TRIGGER USER' : 'DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete');
  },
  /** Every audit row, oldest first: { seq, recorded, patient, agent, action, outcome, record (hex), hash (hex) }. */
  rows(dir) {
    const out = PG_MODE
      ? db.exec(dir, "SELECT coalesce(json_agg(json_build_object('seq', seq, 'recorded', recorded, 'patient', patient, 'agent', agent, 'action', action, 'outcome', outcome, 'record', encode(record, 'hex'), 'hash', encode(hash, 'hex')) ORDER BY seq), '[]') FROM audit")
      : spawnSync('sqlite3', ['-json', path.join(dir, 'bron.db'), 'SELECT seq, recorded, patient, agent, action, outcome, lower(hex(record)) AS record, lower(hex(hash)) AS hash FROM audit ORDER BY seq'], { encoding: 'utf8' }).stdout.trim();
    return out ? JSON.parse(out).map((r) => ({ ...r, seq: Number(r.seq), recorded: Number(r.recorded), outcome: Number(r.outcome) })) : [];
  },
  head(dir) {
    const out = db.exec(dir, PG_MODE ? "SELECT seq || ' ' || encode(hash, 'hex') FROM audit_head" : "SELECT seq || ' ' || lower(hex(hash)) FROM audit_head");
    const [seq, hash] = out.split(' ');
    return { seq: Number(seq), hash };
  },
  /** Overwrite row seq's content with r's (every column but seq). */
  setRow(dir, seq, r) {
    db.exec(dir, `UPDATE audit SET recorded = ${r.recorded}, patient = ${db.text(r.patient)}, agent = ${db.text(r.agent)}, action = ${db.text(r.action)}, outcome = ${r.outcome}, record = ${db.blob(r.record)}, hash = ${db.blob(r.hash)} WHERE seq = ${seq}`);
  },
  insert(dir, seq, r) {
    db.exec(dir, `INSERT INTO audit(seq, recorded, patient, agent, action, outcome, record, hash) VALUES (${seq}, ${r.recorded}, ${db.text(r.patient)}, ${db.text(r.agent)}, ${db.text(r.action)}, ${r.outcome}, ${db.blob(r.record)}, ${db.blob(r.hash)})`);
  },
  setHead(dir, seq, hash) {
    db.exec(dir, `UPDATE audit_head SET seq = ${seq}, hash = ${db.blob(hash)} WHERE id = 1`);
  },
};

/** The chain's hash of row r after the hash prev (hex), as store_audit_hash makes it. */
function chainHash(prevHex, r) {
  const be = Buffer.alloc(17);
  be.writeBigInt64BE(BigInt(r.seq), 0);
  be.writeBigInt64BE(BigInt(r.recorded), 8);
  be[16] = r.outcome & 0xff;
  return crypto.createHash('sha256')
    .update(Buffer.from(prevHex, 'hex'))
    .update(be)
    .update(Buffer.from(r.action, 'utf8').subarray(0, 1))
    .update(Buffer.from(`${r.patient ?? ''}\0`, 'utf8'))
    .update(Buffer.from(`${r.agent ?? ''}\0`, 'utf8'))
    .update(Buffer.from(r.record, 'hex'))
    .digest('hex');
}
const ZERO = '00'.repeat(32);

/** Re-hash rows from index `from` on (after a change), writing the new hashes and the head. */
function rechain(dir, rows, from) {
  let prev = from > 0 ? rows[from - 1].hash : ZERO;
  for (let i = from; i < rows.length; i++) {
    const h = chainHash(prev, rows[i]);
    if (h !== rows[i].hash) db.exec(dir, `UPDATE audit SET hash = ${db.blob(h)} WHERE seq = ${rows[i].seq}`);
    rows[i].hash = h;
    prev = h;
  }
  const last = rows[rows.length - 1];
  db.setHead(dir, last.seq, last.hash);
}

function verify(dir, ...args) {
  return runBron(['audit', 'verify', '--unencrypted', '--unencrypted', ...storeArgs(dir), ...args], 60000);
}

async function assertFails(dir, seq, re, what, ...args) {
  const v = await verify(dir, ...args);
  assert.equal(v.code, 1, `${what}: verify should fail\n${v.stdout}${v.stderr}`);
  const m = /^FAILED at record (\d+): (.*)$/m.exec(v.stdout);
  assert.ok(m, `${what}: ${v.stdout}${v.stderr}`);
  assert.equal(Number(m[1]), seq, `${what}: ${v.stdout}`);
  if (re) assert.match(m[2], re, what);
  return v;
}

async function assertVerifies(dir, what, ...args) {
  const v = await verify(dir, ...args);
  assert.equal(v.code, 0, `${what}: ${v.stdout}${v.stderr}`);
  const m = /^ok: (\d+) records, (\d+) checkpoints? verified/m.exec(v.stdout);
  assert.ok(m, `${what}: ${v.stdout}`);
  return { records: Number(m[1]), checkpoints: Number(m[2]), out: v.stdout };
}

/** Serve on a fresh store, make some traffic, stop; the data dir is kept. */
async function trafficStore(args = []) {
  const s = await startServer({ args: ['--unencrypted', ...args] });
  for (const p of ['p1', 'p2']) {
    await put(s, patient(p));
    await put(s, obs(`o-${p}`, p));
  }
  await on(s, tok('t-reader'), 'GET', '/fhir/Observation/o-p1');
  await on(s, tok('t-reader'), 'GET', '/fhir/Observation?identifier=none');
  await on(s, null, 'GET', '/fhir/Patient/p2');
  await put(s, { ...obs('o-p2', 'p2'), status: 'amended' });
  await on(s, tok('t-reader'), 'GET', '/fhir/Observation/o-p2/_history');
  await settled(s, 'agent=t-reader', 3);
  return s;
}

describe('tamper evidence: append-only store and bron audit verify', () => {
  let srv;
  let dir;
  let rows;
  const copies = [];
  before(async () => {
    srv = await trafficStore();
    await srv.stop({ keepData: true });
    dir = srv.dataDir;
    rows = db.rows(dir);
  });
  after(() => {
    for (const d of copies) removeStore(d);
    if (dir) removeStore(dir);
  });
  const copy = () => { const c = db.copy(dir); copies.push(c); return c; };

  it('the untouched trail verifies, and the chain recomputed here is the store\'s', async () => {
    assert.ok(rows.length >= 10, `${rows.length} rows`);
    const v = await assertVerifies(dir, 'untouched');
    assert.equal(v.records, rows.length);
    assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), 'seq 1..N without gaps');
    let prev = ZERO;
    for (const r of rows) {
      assert.equal(chainHash(prev, r), r.hash, `hash of record ${r.seq}`);
      prev = r.hash;
    }
    const head = db.head(dir);
    assert.deepEqual(head, { seq: rows.length, hash: prev });
    assert.match(v.out, new RegExp(`head ${rows.length} ${prev}`));
    // the record bytes are the searchable columns' source
    for (const r of rows) {
      const j = JSON.parse(Buffer.from(r.record, 'hex').toString('utf8'));
      assert.equal(j.v, 1);
      assert.equal(j.patient ?? null, r.patient);
      assert.equal(j.agent ?? null, r.agent);
    }
  });

  it('the store refuses UPDATE, DELETE (and TRUNCATE) of the trail: append-only', () => {
    const c = copy();
    for (const sql of ['UPDATE audit SET patient = \'px\' WHERE seq = 2', 'DELETE FROM audit WHERE seq = 2', 'DELETE FROM audit',
      ...(PG_MODE ? ['TRUNCATE audit'] : [])]) {
      const r = db.sql(c, sql);
      assert.ok(!r.ok, `${sql} went through`);
      assert.match(r.err, /append-only/, sql);
    }
    assert.equal(db.rows(c).length, rows.length);
  });

  const k = 3; // a record in the middle
  const cases = [
    ['a record\'s patient changed', (c) => db.exec(c, `UPDATE audit SET patient = 'p-someone-else' WHERE seq = ${k}`), k, /was changed/],
    ['a record\'s agent changed', (c) => db.exec(c, `UPDATE audit SET agent = 'nobody' WHERE seq = ${k + 1}`), k + 1, /was changed/],
    ['a record\'s outcome changed', (c) => db.exec(c, `UPDATE audit SET outcome = 0 WHERE outcome = 4`), () => rows.find((r) => r.outcome === 4).seq, /was changed/],
    ['a record\'s time changed', (c) => db.exec(c, `UPDATE audit SET recorded = recorded - 1000000 WHERE seq = ${k}`), k, /was changed/],
    ['a record\'s bytes changed', (c) => {
      const r = rows[k - 1];
      const text = Buffer.from(r.record, 'hex').toString('utf8').replace(/"status":\d+/, '"status":299');
      db.exec(c, `UPDATE audit SET record = ${db.blob(Buffer.from(text).toString('hex'))} WHERE seq = ${k}`);
    }, k, /was changed/],
    ['a record\'s hash changed to fit its content', (c) => {
      const r = { ...rows[k - 1], agent: 'nobody' };
      db.setRow(c, k, { ...r, hash: chainHash(rows[k - 2].hash, r) });
    }, k + 1, /was changed/],
    ['a record removed from the middle', (c) => db.exec(c, `DELETE FROM audit WHERE seq = ${k}`), k, /record \d+ is missing/],
    ['two records swapped', (c) => {
      db.setRow(c, k, rows[k + 1]);
      db.setRow(c, k + 2, rows[k - 1]);
    }, k, /was changed, inserted or moved/],
    ['a record inserted in the middle (the later ones moved up)', (c) => {
      db.exec(c, `UPDATE audit SET seq = seq + 1000000 WHERE seq >= ${k}`);
      db.exec(c, `UPDATE audit SET seq = seq - 999999 WHERE seq >= 1000000`);
      db.insert(c, k, rows[0]);
    }, k, /was changed, inserted or moved/],
    ['a copied record appended at the end', (c) => db.insert(c, rows.length + 1, rows[1]), () => rows.length + 1, /was changed, inserted or moved/],
    ['a record appended at the end with a hash that fits', (c) => {
      const r = { ...rows[1], seq: rows.length + 1 };
      db.insert(c, r.seq, { ...r, hash: chainHash(rows[rows.length - 1].hash, r) });
    }, () => rows.length + 1, /added after the head/],
    ['the last record removed (tail truncation)', (c) => db.exec(c, `DELETE FROM audit WHERE seq = ${rows.length}`), () => rows.length, /missing: the trail ends before the head/],
    ['the last three records removed', (c) => db.exec(c, `DELETE FROM audit WHERE seq > ${rows.length - 3}`), () => rows.length - 2, /missing/],
    ['the head\'s hash changed', (c) => db.setHead(c, rows.length, 'ab'.repeat(32)), () => rows.length, /does not match the head/],
    ['every record removed', (c) => db.exec(c, 'DELETE FROM audit'), 1, /missing/],
    // values the hash alone cannot tell from what they stand for, but that
    // searches (the patient's, by outcome, by action) would no longer find
    ['a record\'s outcome moved by 256 (the same low byte)', (c) => db.exec(c, `UPDATE audit SET outcome = outcome + 256 WHERE seq = ${k}`), k, /does not write/],
    ['a record\'s action lengthened', (c) => db.exec(c, `UPDATE audit SET action = action || 'x' WHERE seq = ${k}`), k, /does not write/],
    ['a record\'s patient stored as a blob', (c) => db.exec(c, `UPDATE audit SET patient = CAST(patient AS BLOB) WHERE seq = ${k}`), k, /does not write/, 'SQLite only: PostgreSQL columns keep their types'],
    ['a record\'s patient with a NUL and more after it', (c) => db.exec(c, `UPDATE audit SET patient = patient || char(0) || 'x' WHERE seq = ${k}`), k, /does not write/, 'SQLite only: PostgreSQL text holds no NUL'],
    ['a record\'s outcome stored as a real', (c) => db.exec(c, `UPDATE audit SET outcome = 0.25 WHERE seq = ${k}`), k, /does not write/, 'SQLite only: PostgreSQL columns keep their types'],
  ];
  for (const [what, tamper, seq, re, sqliteOnly] of cases) {
    it(`${what}: verify fails at the right record`, { skip: PG_MODE && sqliteOnly }, async () => {
      const c = copy();
      db.unlock(c);
      tamper(c);
      await assertFails(c, typeof seq === 'function' ? seq() : seq, re, what);
    });
  }

  it('a consistent rewrite (the chain re-hashed, the head moved) verifies: what only checkpoints catch', async () => {
    const c = copy();
    db.unlock(c);
    const rs = db.rows(c);
    rs[k - 1].patient = 'p-rewritten';
    db.exec(c, `UPDATE audit SET patient = 'p-rewritten' WHERE seq = ${k}`);
    rechain(c, rs, k - 1);
    await assertVerifies(c, 'consistent rewrite');
    // the same for a cut-off end with the head moved back
    const t = copy();
    db.unlock(t);
    db.exec(t, `DELETE FROM audit WHERE seq > ${rows.length - 2}`);
    db.setHead(t, rows.length - 2, rows[rows.length - 3].hash);
    await assertVerifies(t, 'consistent truncation');
  });

  it('a server started on the untouched store keeps extending the same chain', async () => {
    const c = copy();
    const s = await startServer({ dataDir: c, args: ['--unencrypted'] });
    try {
      await on(s, tok('t-again'), 'GET', '/fhir/Patient/p1');
      await recordsOf(s, 't-again', 1);
    } finally {
      await s.stop();
    }
    const v = await assertVerifies(c, 'after a restart');
    assert.ok(v.records > rows.length);
  });
});

// --- checkpoints ----------------------------------------------------------------

describe('signed checkpoints', () => {
  let dir;
  let keyDir;
  let otherDir;
  const copies = [];
  let srv;
  before(async () => {
    keyDir = tempDir('audit-key-');
    otherDir = tempDir('audit-other-');
    for (const d of [keyDir, otherDir]) {
      const r = await runBron(['keygen', '--force', '--dir', d]);
      assert.equal(r.code, 0, r.stderr);
    }
    srv = await trafficStore(['--audit-key', path.join(keyDir, 'signing-key.pem'), '--audit-checkpoint', '1']);
    await sleep(1500); // at least one checkpoint of the running server
    await on(srv, tok('t-late'), 'GET', '/fhir/Patient/p1');
    await recordsOf(srv, 't-late', 1);
    // reads whose records are still queued when the server stops: the
    // checkpoint at stop must cover them too
    await Promise.all([1, 2, 3, 4, 5].map(() => on(srv, tok('t-last'), 'GET', '/fhir/Patient/p2')));
    await srv.stop({ keepData: true }); // and one at stop
    dir = srv.dataDir;
  });
  after(() => {
    for (const d of [...copies, dir]) if (d) removeStore(d);
    for (const d of [keyDir, otherDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });
  const copy = () => { const c = db.copy(dir); copies.push(c); return c; };
  const jwks = () => path.join(keyDir, 'jwks.json');
  const payload = (jws) => JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString('utf8'));

  it('the server signed checkpoints, which verify with its JWKS', async () => {
    const v = await assertVerifies(dir, 'with --jwks', '--jwks', jwks());
    assert.ok(v.checkpoints >= 1, v.out);
    assert.doesNotMatch(v.out, /signatures not checked/);
    const w = await assertVerifies(dir, 'without --jwks');
    assert.match(w.out, /signatures not checked/);
    // the checkpoint records: agent bron, a JWS over the record before them
    const rows = db.rows(dir);
    const cps = rows.filter((r) => JSON.parse(Buffer.from(r.record, 'hex').toString()).checkpoint);
    assert.ok(cps.length >= 2, `${cps.length} checkpoint records (one while serving, one at stop)`);
    for (const cp of cps) {
      const j = JSON.parse(Buffer.from(cp.record, 'hex').toString());
      assert.equal(cp.agent, 'bron');
      const p = payload(j.checkpoint);
      assert.ok(p.seq < cp.seq, `checkpoint ${cp.seq} signs ${p.seq}`);
      assert.equal(p.hash, rows[p.seq - 1].hash, `the hash checkpoint ${cp.seq} signs`);
    }
    // the last record is the checkpoint made at stop, of the record before it
    const last = cps[cps.length - 1];
    assert.equal(last.seq, rows.length, 'a record after the checkpoint made at stop');
    assert.equal(payload(JSON.parse(Buffer.from(last.record, 'hex').toString()).checkpoint).seq, rows.length - 1);
    assert.equal(rows.filter((r) => r.agent === 't-last').length, 5);
  });

  it('another key\'s JWKS: verify fails at the first checkpoint', async () => {
    const rows = db.rows(dir);
    const first = rows.find((r) => JSON.parse(Buffer.from(r.record, 'hex').toString()).checkpoint);
    await assertFails(dir, first.seq, /the signature of the checkpoint .*does not verify/, 'other key', '--jwks', path.join(otherDir, 'jwks.json'));
  });

  it('the checkpoints are AuditEvents too (subtype checkpoint, agent bron)', async () => {
    const c = copy();
    const s = await startServer({ dataDir: c, args: ['--unencrypted'] });
    try {
      const recs = await trail(s, 'agent=bron');
      assert.ok(recs.length >= 2);
      for (const e of recs) {
        assertAuditEvent(e, 'checkpoint');
        assert.deepEqual(e.subtype, [{ system: 'urn:bron:audit', code: 'checkpoint' }]);
        assert.deepEqual(requestor(e).policy, ['audit-checkpoint']);
      }
    } finally {
      await s.stop();
    }
  });

  it('bron audit checkpoint prints a JWS of the head; an external checkpoint catches a consistent truncation', async () => {
    const c = copy();
    const headBefore = db.head(c);
    const key = path.join(keyDir, 'signing-key.pem');
    // the head is a checkpoint already (made at stop): that one is printed again
    let r = await runBron(['audit', 'checkpoint', '--unencrypted', ...storeArgs(c), '--key', key]);
    assert.equal(r.code, 0, r.stderr);
    const again = r.stdout.trim();
    assert.match(again, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const last = db.rows(c).pop();
    assert.equal(again, JSON.parse(Buffer.from(last.record, 'hex').toString()).checkpoint);
    assert.deepEqual(db.head(c), headBefore, 'nothing appended');
    // new records, then a new checkpoint
    const s = await startServer({ dataDir: c, args: ['--unencrypted'] });
    try {
      for (let i = 0; i < 4; i++) await on(s, tok('t-more'), 'GET', '/fhir/Observation/o-p1');
      await recordsOf(s, 't-more', 4);
    } finally {
      await s.stop();
    }
    // a key that cannot sign: exit 1, nothing appended
    const before1 = db.head(c);
    r = await runBron(['audit', 'checkpoint', '--unencrypted', ...storeArgs(c), '--key', jwks()]);
    assert.equal(r.code, 1, 'a JWKS is no private key');
    assert.equal(r.stdout, '');
    assert.deepEqual(db.head(c), before1);
    r = await runBron(['audit', 'checkpoint', '--unencrypted', ...storeArgs(c), '--key', key]);
    assert.equal(r.code, 0, r.stderr);
    const jws = r.stdout.trim();
    const p = payload(jws);
    const rows = db.rows(c);
    assert.equal(p.iss, 'bron');
    assert.equal(p.sub, 'audit-checkpoint');
    assert.equal(p.seq, rows.length - 1, 'it signs the head before the checkpoint record');
    assert.equal(p.hash, rows[p.seq - 1].hash);
    const file = path.join(c, 'checkpoint.jws');
    fs.writeFileSync(file, `${jws}\n`);
    const v = await assertVerifies(c, 'with the external checkpoint', '--jwks', jwks(), '--checkpoint', `@${file}`);
    const plain = await assertVerifies(c, 'without it', '--jwks', jwks());
    assert.equal(v.checkpoints, plain.checkpoints + 1);
    await assertVerifies(c, 'as text', '--checkpoint', jws);
    // cut the trail below the checkpoint's seq, the head moved back to fit
    db.unlock(c);
    const keep = p.seq - 3;
    db.exec(c, `DELETE FROM audit WHERE seq > ${keep}`);
    db.setHead(c, keep, rows[keep - 1].hash);
    await assertVerifies(c, 'consistently truncated, no external checkpoint', '--jwks', jwks());
    await assertFails(c, p.seq, /is missing: the external checkpoint signs it/, 'truncated below the external checkpoint', '--jwks', jwks(), '--checkpoint', `@${file}`);
  });

  it('a consistent rewrite before a checkpoint: the chain\'s own checkpoint names the record it signed', async () => {
    const c = copy();
    db.unlock(c);
    const rows = db.rows(c);
    const first = rows.find((r) => JSON.parse(Buffer.from(r.record, 'hex').toString()).checkpoint);
    const signed = payload(JSON.parse(Buffer.from(first.record, 'hex').toString()).checkpoint).seq;
    const k = 2;
    assert.ok(k < signed);
    rows[k - 1].agent = 'someone-else';
    db.exec(c, `UPDATE audit SET agent = 'someone-else' WHERE seq = ${k}`);
    rechain(c, rows, k - 1);
    await assertFails(c, signed, /differs from what the checkpoint signed/, 'rewrite under a checkpoint');
    await assertFails(c, signed, /differs from what the checkpoint signed/, 'rewrite under a checkpoint, --jwks', '--jwks', jwks());
  });

  it('bron audit checkpoint on an empty trail prints nothing; bad keys and arguments fail', async () => {
    const empty = tempDir('audit-empty-');
    copies.push(empty);
    const key = path.join(keyDir, 'signing-key.pem');
    // a store is made on first open; no records yet
    let r = await runBron(['audit', 'checkpoint', '--unencrypted', ...storeArgs(empty), '--key', key]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '');
    assert.match(r.stderr, /empty/);
    await assertVerifies(empty, 'empty trail');
    r = await runBron(['audit', 'checkpoint', '--unencrypted', ...storeArgs(empty)]);
    assert.equal(r.code, 2);
    r = await runBron(['audit', 'verify', '--unencrypted', ...storeArgs(dir), '--jwks', path.join(keyDir, 'no-such.json')]);
    assert.equal(r.code, 1);
    r = await runBron(['audit', 'verify', '--unencrypted', ...storeArgs(dir), '--checkpoint', '@/no/such/file']);
    assert.equal(r.code, 1);
    r = await runBron(['audit', 'verify', '--unencrypted', ...storeArgs(dir), '--checkpoint', 'not-a-jws']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAILED at record \d+: .*not one Bron signed/);
    r = await runBron(['audit', 'frobnicate']);
    assert.equal(r.code, 2);
    r = await runBron(['audit', 'verify', '--unencrypted', '--bogus']);
    assert.equal(r.code, 2);
  });

  it('serve refuses an --audit-key that cannot sign', async () => {
    const bad = path.join(keyDir, 'jwks.json');
    await assert.rejects(startServer({ args: ['--audit-key', bad] }), /audit-key|exited/);
  });
});

// --- under load ----------------------------------------------------------------

describe('the chain under concurrent traffic', () => {
  const N = 12; // requests of each kind per client
  const SUBS = ['load-a', 'load-b', 'load-c', 'load-d'];

  /** Reads, searches, creates, updates and refusals from four clients at once. */
  async function load(servers) {
    const jobs = [];
    SUBS.forEach((sub, c) => {
      const s = servers[c % servers.length];
      for (let i = 0; i < N; i++) {
        jobs.push(on(s, tok(sub), 'GET', '/fhir/Observation/o-p1'));
        jobs.push(on(s, tok(sub), 'GET', `/fhir/Observation?identifier=${encodeURIComponent(`${IDSYS}|id-o-p2`)}`));
        jobs.push(on(s, tok(sub), 'POST', '/fhir/Observation', obs(undefined, i % 2 ? 'p1' : 'p2', `load-${sub}-${i}`)));
        jobs.push(on(s, tok(sub), 'PUT', `/fhir/Observation/l-${sub}-${i % 3}`, obs(`l-${sub}-${i % 3}`, 'p2')));
        jobs.push(on(s, tok(sub, 'system/Patient.rs'), 'GET', '/fhir/Observation/o-p2'));
      }
    });
    const res = await Promise.all(jobs);
    for (const r of res) assert.ok([200, 201, 403].includes(r.status), `${r.status} ${r.text.slice(0, 200)}`);
    // per client: 2N reads and searches, 2N writes, N refusals
    for (const sub of SUBS) {
      const recs = await recordsOf(servers[0], sub, 5 * N);
      assert.equal(recs.filter((e) => e.action === 'C').length, N + 3, sub);
      assert.equal(recs.filter((e) => e.action === 'U').length, N - 3, sub);
      assert.equal(recs.filter((e) => e.outcome === '4').length, N, sub);
      assert.equal(recs.filter((e) => e.action === 'R' && e.outcome === '0').length, 2 * N, sub);
    }
  }

  it('one server: every record there, the chain verifies', async () => {
    const s = await startServer({ args: ['--unencrypted'] });
    try {
      for (const p of ['p1', 'p2']) {
        await put(s, patient(p));
        await put(s, obs(`o-${p}`, p));
      }
      await load([s]);
    } finally {
      await s.stop({ keepData: true });
    }
    try {
      const v = await assertVerifies(s.dataDir, 'after load');
      assert.ok(v.records >= SUBS.length * 5 * N + 4);
      const rows = db.rows(s.dataDir);
      assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1));
    } finally {
      removeStore(s.dataDir);
    }
  });

  it('two servers on one PostgreSQL database: one chain, no gaps, verifies', { skip: PG_MODE ? false : 'PostgreSQL mode only' }, async () => {
    const a = await startServer({ args: ['--unencrypted'] });
    let b;
    try {
      b = await startServer({ dataDir: a.dataDir, args: ['--unencrypted'] });
      for (const p of ['p1', 'p2']) {
        await put(a, patient(p));
        await put(a, obs(`o-${p}`, p));
      }
      await load([a, b]);
    } finally {
      if (b) await b.stop();
      await a.stop({ keepData: true });
    }
    try {
      const v = await assertVerifies(a.dataDir, 'two servers');
      assert.ok(v.records >= SUBS.length * 5 * N + 4);
    } finally {
      removeStore(a.dataDir);
    }
  });
});
