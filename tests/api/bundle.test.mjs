// Batch and transaction Bundles end to end (FHIR R4 http.html#transaction,
// #trules, bundle.html#references; issue 5): processing order, fullUrl and
// urn:uuid rewriting everywhere, conditional entries, ifMatch / ifNoneMatch /
// ifModifiedSince / ifNoneExist, the response Bundle, atomicity with rollback
// checks (read, search, history), duplicate identities, per-entry batch
// failures, PATCH entries, 16 concurrent transactions, and the limits.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, responseOf, assertOutcome, assertOutcomeBody, send, newId, INSTANT_RE, etagVersion } from './lib/fhir.mjs';
import { idsOf } from './lib/search.mjs';

let srv;
let fhir;
before(async () => {
  srv = await startServer();
  fhir = client(srv);
});
after(async () => { if (srv) await srv.stop(); });

const newSystem = () => `http://bron.test/mrn/${newId('s')}`;
const uuid = () => `urn:uuid:${crypto.randomUUID()}`;
const patient = (sys, value, extra = {}) => ({ resourceType: 'Patient', identifier: [{ system: sys, value }], ...extra });
const txn = (entry) => ({ resourceType: 'Bundle', type: 'transaction', entry });
const batch = (entry) => ({ resourceType: 'Bundle', type: 'batch', entry });
const post = (resource, fullUrl, extra = {}) => ({ ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: resource.resourceType, ...extra } });
const put = (resource, url, extra = {}, fullUrl) => ({ ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'PUT', url, ...extra } });
const del = (url) => ({ request: { method: 'DELETE', url } });
const getE = (url, extra = {}) => ({ request: { method: 'GET', url, ...extra } });
const statusCode = (e) => Number(String(e.response.status).split(' ')[0]);
const idFromLocation = (loc) => /^(?:.*\/)?[A-Za-z]+\/([^/]+)\/_history\/[^/]+$/.exec(loc)[1];
/** POST the Bundle raw; returns the response. */
const postBundle = (bundle, headers = {}) => send(srv, 'POST', '/fhir', bundle, headers);

async function matches(type, params) {
  const b = await fhir.search({ resourceType: type, searchParams: { ...params, _count: 1000 } });
  return idsOf(b);
}
async function historyIds(type) {
  const res = await send(srv, 'GET', `/fhir/${type}/_history?_count=1000`);
  return (res.json.entry || []).map((e) => `${e.request && e.request.method} ${e.fullUrl}`);
}
async function sysHistoryCount() {
  const res = await send(srv, 'GET', '/fhir/_history?_count=1');
  return res.json.total;
}
const readStatus = async (path) => (await send(srv, 'GET', `/fhir/${path}`)).status;

describe('transaction: response Bundle and reference rewriting', () => {
  it('creates with urn:uuid and absolute fullUrls; references rewritten in references, extensions, contained resources, uri elements and narrative', async () => {
    const sys = newSystem();
    const pUrl = uuid();
    const orgUrl = 'http://elsewhere.example.org/fhir/Organization/temp-org';
    const obs = {
      resourceType: 'Observation',
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">See <a href="${pUrl}">the patient</a></div>` },
      contained: [{ resourceType: 'Specimen', id: 'spec1', subject: { reference: pUrl } }],
      extension: [
        { url: 'http://bron.test/ext/ref', valueReference: { reference: pUrl } },
        { url: 'http://bron.test/ext/uri', valueUri: pUrl },
        { url: 'http://bron.test/ext/nested', extension: [{ url: 'inner', valueReference: { reference: orgUrl } }] },
      ],
      status: 'final', code: { text: 'rewrite' },
      subject: { reference: pUrl },
      performer: [{ reference: orgUrl }],
      specimen: { reference: '#spec1' },
    };
    const bundle = txn([
      post(obs, uuid()),
      post(patient(sys, '1', { managingOrganization: { reference: orgUrl } }), pUrl),
      post({ resourceType: 'Organization', name: 'Temp org' }, orgUrl),
    ]);
    const resp = await fhir.transaction({ body: bundle });
    assert.equal(responseOf(resp).status, 200);
    assert.equal(resp.resourceType, 'Bundle');
    assert.equal(resp.type, 'transaction-response');
    assert.equal(resp.entry.length, 3, 'one response entry per request entry');
    for (const e of resp.entry) {
      assert.equal(statusCode(e), 201, JSON.stringify(e.response));
      assert.match(e.response.status, /^201( |$)/);
      assert.match(e.response.location, /(^|\/)(Observation|Patient|Organization)\/[^/]+\/_history\/1$/);
      assert.equal(etagVersion(e.response.etag), '1');
      assert.match(e.response.lastModified, INSTANT_RE);
    }
    // entries answer in request order
    assert.match(resp.entry[0].response.location, /Observation\//);
    assert.match(resp.entry[1].response.location, /Patient\//);
    assert.match(resp.entry[2].response.location, /Organization\//);
    const obsId = idFromLocation(resp.entry[0].response.location);
    const patId = idFromLocation(resp.entry[1].response.location);
    const orgId = idFromLocation(resp.entry[2].response.location);
    const o = await fhir.read({ resourceType: 'Observation', id: obsId });
    const pref = `Patient/${patId}`;
    assert.equal(o.subject.reference, pref);
    assert.equal(o.performer[0].reference, `Organization/${orgId}`, 'absolute fullUrl of a POST entry is rewritten');
    assert.equal(o.extension[0].valueReference.reference, pref, 'reference inside an extension');
    assert.equal(o.extension[2].extension[0].valueReference.reference, `Organization/${orgId}`, 'reference in a nested extension');
    assert.equal(o.contained[0].subject.reference, pref, 'reference inside a contained resource');
    assert.equal(o.specimen.reference, '#spec1', 'local references untouched');
    assert.ok([pref, `${srv.base}/${pref}`].includes(o.extension[1].valueUri), `uri element rewritten: ${o.extension[1].valueUri}`);
    assert.ok(o.text.div.includes(`href="${pref}"`) || o.text.div.includes(`href="${srv.base}/${pref}"`), `narrative link rewritten: ${o.text.div}`);
    assert.ok(!JSON.stringify(o).includes('urn:uuid:'), 'no urn:uuid left');
    const p = await fhir.read({ resourceType: 'Patient', id: patId });
    assert.equal(p.managingOrganization.reference, `Organization/${orgId}`);
    // searchable through the rewritten references
    assert.deepEqual(await matches('Observation', { subject: pref }), [obsId]);
  });
  it('PUT entries: fullUrl references resolve to the PUT url; Prefer: return=representation puts resources in the response', async () => {
    const id = newId('put');
    const full = uuid();
    const resp = await postBundle(txn([
      post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: full } }, uuid()),
      put({ resourceType: 'Patient', id, active: true }, `Patient/${id}`, {}, full),
    ]), { prefer: 'return=representation' });
    assert.equal(resp.status, 200, resp.text.slice(0, 400));
    const [eo, ep] = resp.json.entry;
    assert.equal(statusCode(ep), 201, 'update as create');
    assert.equal(ep.resource.id, id);
    assert.equal(eo.resource.subject.reference, `Patient/${id}`);
    assert.equal(eo.resource.meta.versionId, '1');
  });
  it('an empty transaction answers an empty transaction-response', async () => {
    const resp = await postBundle(txn([]));
    assert.equal(resp.status, 200, resp.text.slice(0, 300));
    assert.equal(resp.json.type, 'transaction-response');
    assert.equal((resp.json.entry || []).length, 0);
  });
  it('not a batch/transaction Bundle, or a Bundle without request → 400', async () => {
    assertOutcome(await postBundle({ resourceType: 'Bundle', type: 'collection', entry: [] }), 400);
    assertOutcome(await postBundle({ resourceType: 'Patient' }), 400);
    assertOutcome(await postBundle(txn([{ resource: { resourceType: 'Patient' } }])), 400);
    assertOutcome(await postBundle(txn([{ request: { method: 'FETCH', url: 'Patient' } }])), 400);
  });
});

describe('transaction: processing order (DELETE, POST, PUT/PATCH, GET)', () => {
  it('DELETE runs before POST, writes before GET; responses keep request order', async () => {
    const sys = newSystem();
    const old = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'dup') });
    const putId = newId('ord');
    const resp = await postBundle(txn([
      getE(`Patient?identifier=${encodeURIComponent(`${sys}|dup`)}`),
      getE(`Patient/${putId}`),
      put({ resourceType: 'Patient', id: putId, gender: 'female' }, `Patient/${putId}`),
      // would match `old` (412/200) unless the DELETE ran first
      post(patient(sys, 'dup', { gender: 'male' }), uuid(), { ifNoneExist: `identifier=${encodeURIComponent(`${sys}|dup`)}` }),
      del(`Patient/${old.id}`),
    ]));
    assert.equal(resp.status, 200, resp.text.slice(0, 500));
    const e = resp.json.entry;
    assert.equal(e.length, 5);
    assert.equal(statusCode(e[4]), 200, `DELETE: ${e[4].response.status}`);
    assert.equal(statusCode(e[3]), 201, 'the POST ran after the DELETE: its ifNoneExist found nothing');
    const newId2 = idFromLocation(e[3].response.location);
    assert.notEqual(newId2, old.id);
    assert.equal(statusCode(e[2]), 201);
    assert.equal(statusCode(e[0]), 200);
    assert.equal(e[0].resource.resourceType, 'Bundle', 'a search entry answers a searchset Bundle');
    assert.deepEqual(idsOf(e[0].resource), [newId2], 'the GET sees the transaction\'s writes');
    assert.equal(statusCode(e[1]), 200);
    assert.equal(e[1].resource.gender, 'female', 'GET of the PUT resource sees it');
    assert.equal(await readStatus(`Patient/${old.id}`), 410);
  });
});

describe('transaction: conditional entries', () => {
  it('ifNoneExist: a match is reused (200) and references to its fullUrl point at the existing resource', async () => {
    const sys = newSystem();
    const existing = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'x') });
    const full = uuid();
    const resp = await postBundle(txn([
      post(patient(sys, 'x', { gender: 'male' }), full, { ifNoneExist: `identifier=${encodeURIComponent(`${sys}|x`)}` }),
      post({ resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: full } }, uuid()),
    ]));
    assert.equal(resp.status, 200, resp.text.slice(0, 400));
    assert.equal(statusCode(resp.json.entry[0]), 200);
    assert.ok(resp.json.entry[0].response.location.includes(`Patient/${existing.id}`), `location ${resp.json.entry[0].response.location}`);
    const obsId = idFromLocation(resp.json.entry[1].response.location);
    const o = await fhir.read({ resourceType: 'Observation', id: obsId });
    assert.equal(o.subject.reference, `Patient/${existing.id}`);
    assert.deepEqual(await matches('Patient', { identifier: `${sys}|x` }), [existing.id]);
    assert.equal((await fhir.read({ resourceType: 'Patient', id: existing.id })).gender, undefined, 'the existing resource is unchanged');
  });
  it('ifNoneExist with several matches fails the transaction (412)', async () => {
    const sys = newSystem();
    await fhir.create({ resourceType: 'Patient', body: patient(sys, 'm') });
    await fhir.create({ resourceType: 'Patient', body: patient(sys, 'm') });
    const other = newSystem();
    const res = await postBundle(txn([
      post(patient(other, 'new'), uuid()),
      post(patient(sys, 'm'), uuid(), { ifNoneExist: `identifier=${encodeURIComponent(`${sys}|m`)}` }),
    ]));
    assertOutcome(res, 412);
    assert.deepEqual(await matches('Patient', { identifier: `${other}|new` }), []);
  });
  it('conditional update and conditional delete inside a transaction', async () => {
    const sys = newSystem();
    const u = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'u') });
    const d = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'd') });
    const resp = await postBundle(txn([
      put(patient(sys, 'u', { gender: 'other' }), `Patient?identifier=${encodeURIComponent(`${sys}|u`)}`),
      put(patient(sys, 'n', { gender: 'male' }), `Patient?identifier=${encodeURIComponent(`${sys}|n`)}`),
      del(`Patient?identifier=${encodeURIComponent(`${sys}|d`)}`),
    ]));
    assert.equal(resp.status, 200, resp.text.slice(0, 400));
    const e = resp.json.entry;
    assert.equal(statusCode(e[0]), 200);
    assert.ok(e[0].response.location.includes(`Patient/${u.id}/_history/2`), e[0].response.location);
    assert.equal(statusCode(e[1]), 201);
    assert.ok([200, 204].includes(statusCode(e[2])));
    assert.equal((await fhir.read({ resourceType: 'Patient', id: u.id })).gender, 'other');
    assert.equal(await readStatus(`Patient/${d.id}`), 410);
    assert.equal((await matches('Patient', { identifier: `${sys}|n` })).length, 1);
  });
  it('conditional update with several matches fails the transaction (412)', async () => {
    const sys = newSystem();
    await fhir.create({ resourceType: 'Patient', body: patient(sys, 'm') });
    await fhir.create({ resourceType: 'Patient', body: patient(sys, 'm') });
    const res = await postBundle(txn([put(patient(sys, 'm', { active: true }), `Patient?identifier=${encodeURIComponent(`${sys}|m`)}`)]));
    assertOutcome(res, 412);
  });
  it('conditional references (Patient?identifier=...) resolve to the single match', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'cr') });
    const res = await postBundle(txn([
      post({ resourceType: 'Observation', status: 'final', code: { text: 'cr' }, subject: { reference: `Patient?identifier=${sys}|cr` } }, uuid()),
    ]));
    assert.equal(res.status, 200, `conditional reference: ${res.status} ${res.text.slice(0, 400)}`);
    const o = await fhir.read({ resourceType: 'Observation', id: idFromLocation(res.json.entry[0].response.location) });
    assert.equal(o.subject.reference, `Patient/${p.id}`);
  });
  it('a conditional reference with no match fails the transaction', async () => {
    const sys = newSystem();
    const res = await postBundle(txn([
      post({ resourceType: 'Observation', status: 'final', code: { text: 'cr0' }, subject: { reference: `Patient?identifier=${sys}|none` } }, uuid()),
    ]));
    assert.ok(res.status >= 400 && res.status < 500, `got ${res.status}: ${res.text.slice(0, 300)}`);
    assertOutcomeBody(res.json);
    assert.deepEqual(await matches('Observation', { 'code:text': 'cr0' }), []);
  });
  it('a search string outside Reference.reference (Subscription.criteria) is kept as written, whatever it matches', async () => {
    const sys = newSystem();
    await fhir.create({ resourceType: 'Patient', body: patient(sys, 'one') });
    for (const criteria of [`Patient?identifier=${sys}|one`, `Patient?identifier=${sys}|none`, 'Observation?code=http://loinc.org|1975-2']) {
      const sub = { resourceType: 'Subscription', status: 'requested', reason: 'test', criteria, channel: { type: 'rest-hook', endpoint: 'https://example.org/hook' } };
      const res = await postBundle(txn([post(sub, uuid())]));
      assert.equal(res.status, 200, `${criteria}: ${res.status} ${res.text.slice(0, 300)}`);
      const s = await fhir.read({ resourceType: 'Subscription', id: idFromLocation(res.json.entry[0].response.location) });
      assert.equal(s.criteria, criteria);
    }
  });
});

describe('transaction: ifMatch, ifNoneMatch, ifModifiedSince', () => {
  it('ifMatch current → applied; stale → the whole transaction fails 412 and nothing of it is stored', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'im') });
    const ok = await postBundle(txn([put({ ...patient(sys, 'im'), id: p.id, gender: 'male' }, `Patient/${p.id}`, { ifMatch: 'W/"1"' })]));
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.equal(ok.json.entry[0].response.etag, 'W/"2"');
    const marker = newSystem();
    const before = await sysHistoryCount();
    const stale = await postBundle(txn([
      post(patient(marker, 'side'), uuid()),
      put({ ...patient(sys, 'im'), id: p.id, gender: 'female' }, `Patient/${p.id}`, { ifMatch: 'W/"1"' }),
    ]));
    assertOutcome(stale, 412);
    assert.ok(JSON.stringify(stale.json).includes('1'), 'names the failing entry');
    assert.equal((await fhir.read({ resourceType: 'Patient', id: p.id })).gender, 'male');
    assert.deepEqual(await matches('Patient', { identifier: `${marker}|side` }), []);
    assert.equal(await sysHistoryCount(), before, 'nothing in history');
  });
  it('GET entries with ifNoneMatch / ifModifiedSince answer 304 when unchanged', async () => {
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } });
    const future = new Date(Date.now() + 3600e3).toUTCString();
    const past = new Date(Date.now() - 3600e3).toUTCString();
    const resp = await postBundle(batch([
      getE(`Patient/${p.id}`, { ifNoneMatch: 'W/"1"' }),
      getE(`Patient/${p.id}`, { ifNoneMatch: 'W/"7"' }),
      getE(`Patient/${p.id}`, { ifModifiedSince: future }),
      getE(`Patient/${p.id}`, { ifModifiedSince: past }),
    ]));
    assert.equal(resp.status, 200, resp.text.slice(0, 300));
    const s = resp.json.entry.map(statusCode);
    assert.deepEqual(s, [304, 200, 304, 200]);
    assert.equal(resp.json.entry[1].resource.id, p.id);
  });
});

describe('transaction: atomicity and rollback', () => {
  it('an invalid entry fails everything (4xx OperationOutcome naming the entry); nothing can be read, searched or seen in history', async () => {
    const sys = newSystem();
    const keep = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'keep', { gender: 'female' }) });
    const victim = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'victim') });
    const putId = newId('rb');
    const before = await sysHistoryCount();
    const typeHistBefore = await historyIds('Patient');
    const full = uuid();
    const res = await postBundle(txn([
      post(patient(sys, 'new'), full),
      put({ ...patient(sys, 'keep'), id: keep.id, gender: 'male' }, `Patient/${keep.id}`),
      put({ resourceType: 'Patient', id: putId }, `Patient/${putId}`),
      del(`Patient/${victim.id}`),
      post({ resourceType: 'Observation', status: 'final', code: { text: 'rb' }, subject: { reference: full }, noSuchElement: 1 }, uuid()),
    ]));
    assertOutcome(res, [400, 422]);
    const text = JSON.stringify(res.json);
    assert.match(text, /entry[^0-9]{0,20}4|\[4\]|entry\.?4/i, `the outcome names entry 4: ${text.slice(0, 300)}`);
    assert.deepEqual(await matches('Patient', { identifier: `${sys}|new` }), []);
    assert.equal((await fhir.read({ resourceType: 'Patient', id: keep.id })).gender, 'female');
    assert.equal(await readStatus(`Patient/${putId}`), 404);
    assert.equal(await readStatus(`Patient/${victim.id}`), 200);
    assert.deepEqual(await matches('Observation', { 'code:text': 'rb' }), []);
    assert.equal(await sysHistoryCount(), before);
    assert.deepEqual(await historyIds('Patient'), typeHistBefore);
  });
  it('a failure found while committing (stale ifMatch after other writes) rolls back the writes before it', async () => {
    const sys = newSystem();
    const a = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'a') });
    const b = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'b') });
    await fhir.update({ resourceType: 'Patient', id: b.id, body: { ...patient(sys, 'b'), id: b.id, active: true } });
    const before = await sysHistoryCount();
    const res = await postBundle(txn([
      del(`Patient/${a.id}`),
      post(patient(sys, 'c'), uuid()),
      put({ ...patient(sys, 'b'), id: b.id, active: false }, `Patient/${b.id}`, { ifMatch: 'W/"1"' }),
    ]));
    assertOutcome(res, 412);
    assert.equal(await readStatus(`Patient/${a.id}`), 200, 'the DELETE was rolled back');
    assert.deepEqual(await matches('Patient', { identifier: `${sys}|c` }), []);
    assert.deepEqual(await matches('Patient', { identifier: `${sys}|a` }), [a.id], 'index rows of the deleted version restored');
    assert.equal(await sysHistoryCount(), before);
  });
  it('two entries touching the same resource → 400', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'same') });
    const cases = {
      'PUT twice': [put({ resourceType: 'Patient', id: p.id, active: true }, `Patient/${p.id}`), put({ resourceType: 'Patient', id: p.id, active: false }, `Patient/${p.id}`)],
      'DELETE and PUT': [del(`Patient/${p.id}`), put({ resourceType: 'Patient', id: p.id }, `Patient/${p.id}`)],
      'same fullUrl twice': (() => { const f = uuid(); return [post({ resourceType: 'Patient' }, f), post({ resourceType: 'Patient' }, f)]; })(),
      'PUT and a conditional PUT resolving to it': [put({ ...patient(sys, 'same'), id: p.id, active: true }, `Patient/${p.id}`), put(patient(sys, 'same', { active: false }), `Patient?identifier=${encodeURIComponent(`${sys}|same`)}`)],
      'conditional DELETE and PUT of the same resource': [del(`Patient?identifier=${encodeURIComponent(`${sys}|same`)}`), put({ ...patient(sys, 'same'), id: p.id }, `Patient/${p.id}`)],
    };
    const wrong = [];
    for (const [name, entries] of Object.entries(cases)) {
      const before = await sysHistoryCount();
      const res = await postBundle(txn(entries));
      if (res.status !== 400 || !res.json || res.json.resourceType !== 'OperationOutcome') wrong.push(`${name}: ${res.status} ${res.text.slice(0, 160)}`);
      else if (await sysHistoryCount() !== before) wrong.push(`${name}: refused but something was stored`);
    }
    assert.deepEqual(wrong, [], 'each case must be refused with 400 and store nothing');
    assert.equal(await readStatus(`Patient/${p.id}`), 200);
  });
});

describe('transaction: DELETE then a conditional PUT whose criteria matched the deleted resource', () => {
  it('either fails (overlapping identities) or creates a new resource; never resurrects the deleted one', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'res') });
    const res = await postBundle(txn([
      del(`Patient/${p.id}`),
      put(patient(sys, 'res', { active: true }), `Patient?identifier=${encodeURIComponent(`${sys}|res`)}`),
    ]));
    if (res.status === 200) {
      const loc = res.json.entry[1].response.location || '';
      assert.ok(!loc.includes(`Patient/${p.id}/`), `the conditional PUT (processed after the DELETE) matched the deleted resource: ${loc}`);
      assert.equal(await readStatus(`Patient/${p.id}`), 410);
    } else {
      assertOutcome(res, 400);
      assert.equal(await readStatus(`Patient/${p.id}`), 200);
    }
  });
});

describe('batch: entries fail alone', () => {
  it('batch-response with one entry per request; failures carry response.outcome, the rest is applied', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'b') });
    const resp = await fhir.batch({
      body: batch([
        post(patient(sys, 'ok')),
        post({ resourceType: 'Patient', noSuchElement: true }),
        getE('Patient/no-such-id-here'),
        put({ ...patient(sys, 'b'), id: p.id, active: true }, `Patient/${p.id}`, { ifMatch: 'W/"9"' }),
        put({ ...patient(sys, 'b'), id: p.id, active: false }, `Patient/${p.id}`, { ifMatch: 'W/"1"' }),
        getE(`Patient?identifier=${encodeURIComponent(`${sys}|ok`)}`),
      ]),
    });
    assert.equal(resp.type, 'batch-response');
    assert.equal(resp.entry.length, 6);
    const s = resp.entry.map(statusCode);
    assert.equal(s[0], 201);
    assert.equal(s[1], 400);
    assert.equal(s[2], 404);
    assert.equal(s[3], 412);
    assert.equal(s[4], 200);
    assert.equal(s[5], 200);
    for (const i of [1, 2, 3]) {
      assert.ok(resp.entry[i].response.outcome, `entry ${i} carries response.outcome`);
      assertOutcomeBody(resp.entry[i].response.outcome, `entry ${i}: `);
    }
    assert.equal((await fhir.read({ resourceType: 'Patient', id: p.id })).active, false);
    assert.equal((await matches('Patient', { identifier: `${sys}|ok` })).length, 1);
  });
});

describe('PATCH entries (Binary with a JSON Patch)', () => {
  const binaryPatch = (ops) => ({ resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(ops)).toString('base64') });
  const patchE = (url, ops, extra = {}) => ({ resource: binaryPatch(ops), request: { method: 'PATCH', url, ...extra } });
  it('applies the patch inside a transaction', async () => {
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true, name: [{ family: 'Before' }] } });
    const resp = await postBundle(txn([patchE(`Patient/${p.id}`, [{ op: 'replace', path: '/name/0/family', value: 'After' }, { op: 'add', path: '/gender', value: 'female' }])]));
    assert.equal(resp.status, 200, resp.text.slice(0, 400));
    assert.equal(statusCode(resp.json.entry[0]), 200);
    assert.equal(resp.json.entry[0].response.etag, 'W/"2"');
    const now = await fhir.read({ resourceType: 'Patient', id: p.id });
    assert.equal(now.name[0].family, 'After');
    assert.equal(now.gender, 'female');
  });
  it('a patch that cannot apply fails the transaction (422) and in a batch only its entry', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } });
    const bad = [{ op: 'test', path: '/active', value: false }, { op: 'replace', path: '/active', value: false }];
    const res = await postBundle(txn([post(patient(sys, 'x'), uuid()), patchE(`Patient/${p.id}`, bad)]));
    assertOutcome(res, [409, 422]);
    assert.deepEqual(await matches('Patient', { identifier: `${sys}|x` }), []);
    const b = await postBundle(batch([post(patient(sys, 'y')), patchE(`Patient/${p.id}`, bad)]));
    assert.equal(b.status, 200);
    assert.deepEqual(b.json.entry.map(statusCode), [201, 422]);
    assert.equal((await fhir.read({ resourceType: 'Patient', id: p.id })).meta.versionId, '1');
  });
});

describe('concurrency', () => {
  it('16 concurrent transactions updating the same two resources with ifMatch never lose an update nor half-apply', async () => {
    const A = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', multipleBirthInteger: 0 } });
    const B = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', multipleBirthInteger: 0 } });
    const PER_CLIENT = 2;
    let conflicts = 0;
    async function worker(w) {
      for (let done = 0; done < PER_CLIENT;) {
        const [a, b] = await Promise.all([fhir.read({ resourceType: 'Patient', id: A.id }), fhir.read({ resourceType: 'Patient', id: B.id })]);
        const res = await postBundle(txn([
          put({ resourceType: 'Patient', id: A.id, multipleBirthInteger: a.multipleBirthInteger + 1, name: [{ family: `w${w}` }] }, `Patient/${A.id}`, { ifMatch: `W/"${a.meta.versionId}"` }),
          put({ resourceType: 'Patient', id: B.id, multipleBirthInteger: b.multipleBirthInteger + 1, name: [{ family: `w${w}` }] }, `Patient/${B.id}`, { ifMatch: `W/"${b.meta.versionId}"` }),
        ]));
        if (res.status === 200) done++;
        else if (res.status === 412 || res.status === 409) conflicts++;
        else assert.fail(`unexpected ${res.status}: ${res.text.slice(0, 300)}`);
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    const total = 16 * PER_CLIENT;
    const [a, b] = await Promise.all([fhir.read({ resourceType: 'Patient', id: A.id }), fhir.read({ resourceType: 'Patient', id: B.id })]);
    assert.equal(a.multipleBirthInteger, total, `lost updates on A (${conflicts} conflicts retried)`);
    assert.equal(b.multipleBirthInteger, total, 'lost updates on B');
    assert.equal(a.meta.versionId, String(total + 1));
    assert.equal(b.meta.versionId, String(total + 1));
    // every version of A has the same writer as the same version of B: no half-applied Bundle
    const ha = (await fhir.history({ resourceType: 'Patient', id: A.id, options: { searchParams: { _count: 100 } } }));
    const hb = (await fhir.history({ resourceType: 'Patient', id: B.id, options: { searchParams: { _count: 100 } } }));
    const byVersion = (h) => Object.fromEntries(h.entry.map((e) => [e.resource.meta.versionId, `${e.resource.multipleBirthInteger}/${e.resource.name ? e.resource.name[0].family : ''}`]));
    const va = byVersion(ha);
    const vb = byVersion(hb);
    for (let v = 2; v <= total + 1; v++) {
      if (va[String(v)] !== undefined && vb[String(v)] !== undefined) assert.equal(va[String(v)], vb[String(v)], `version ${v} of A and B come from different transactions`);
    }
  });
});

describe('limits', () => {
  it('more entries than the limit → 413 OperationOutcome, nothing stored', async () => {
    const entries = Array.from({ length: 20001 }, () => ({ request: { method: 'GET', url: 'Patient/x' } }));
    const res = await postBundle(batch(entries));
    assertOutcome(res, 413);
  });
});
