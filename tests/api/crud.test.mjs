// The instance interactions of FHIR R4 http.html - create, read, vread, update,
// delete, patch - with their status codes, headers (Location, ETag,
// Last-Modified, If-Match, If-None-Match, If-Modified-Since, Prefer) and bodies,
// driven by fhir-kit-client as an application would, and by raw HTTP where the
// exact headers matter.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  ID_RE, INSTANT_RE, client, responseOf, rejects, etagVersion, assertOutcome, assertOutcomeBody,
  assertLastModified, assertServerMeta, withoutServerMeta, send, newId, parseExact, isFhirJsonType,
} from './lib/fhir.mjs';

let srv;
let fhir;

before(async () => {
  srv = await startServer();
  fhir = client(srv);
});
after(async () => { if (srv) await srv.stop(); });

const patient = (extra = {}) => ({
  resourceType: 'Patient',
  active: true,
  name: [{ family: 'Jansen', given: ['Anna', 'Maria'] }],
  gender: 'female',
  birthDate: '1970-03-14',
  ...extra,
});

function location(res) {
  const loc = res.headers.get ? res.headers.get('location') : res.headers.location;
  assert.ok(loc, 'missing Location header');
  return loc;
}

async function createPatient(extra) {
  const created = await fhir.create({ resourceType: 'Patient', body: patient(extra) });
  return created;
}

async function history(type, id) {
  const res = await send(srv, 'GET', `/fhir/${type}/${id}/_history`);
  assert.equal(res.status, 200, `instance history: ${res.status} ${res.text.slice(0, 200)}`);
  return res.json.entry || [];
}

describe('create (POST [base]/[type])', () => {
  it('returns 201 with Location [base]/Patient/[id]/_history/1, ETag W/"1", Last-Modified and the resource', async () => {
    const sent = patient();
    const created = await fhir.create({ resourceType: 'Patient', body: sent });
    const res = responseOf(created);
    assert.equal(res.status, 201);
    assert.ok(isFhirJsonType(res.headers.get('content-type')), `Content-Type ${res.headers.get('content-type')}`);
    assert.equal(created.resourceType, 'Patient');
    assert.match(created.id || '', ID_RE, `server id ${created.id} is not a valid FHIR id`);
    assertServerMeta(created, '1');
    const loc = new URL(location(res), `${srv.base}/Patient`).href;
    assert.equal(loc, `${srv.base}/Patient/${created.id}/_history/1`);
    assert.equal(etagVersion(res.headers.get('etag')), '1');
    assertLastModified(res.headers.get('last-modified'), created.meta.lastUpdated);
    assert.deepEqual(withoutServerMeta({ ...created, id: undefined }), { ...sent, id: undefined });
  });

  it('ignores a client-supplied id, meta.versionId and meta.lastUpdated but keeps meta.tag and meta.profile', async () => {
    const clientId = newId('mine');
    const meta = {
      versionId: '42',
      lastUpdated: '2001-01-01T00:00:00Z',
      profile: ['http://example.org/StructureDefinition/my-patient'],
      tag: [{ system: 'http://example.org/tags', code: 'keep-me' }],
    };
    const created = await createPatient({ id: clientId, meta });
    assert.notEqual(created.id, clientId, 'create SHALL ignore the id in the body');
    assertServerMeta(created, '1');
    assert.deepEqual(created.meta.profile, meta.profile);
    assert.deepEqual(created.meta.tag, meta.tag);
    const r = await send(srv, 'GET', `/fhir/Patient/${clientId}`);
    assert.equal(r.status, 404, 'nothing may be stored under the ignored client id');
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.deepEqual(read.meta.tag, meta.tag);
    assert.deepEqual(read.meta.profile, meta.profile);
  });

  it('gives every create a new id', async () => {
    const ids = new Set();
    for (let i = 0; i < 8; i++) ids.add((await createPatient()).id);
    assert.equal(ids.size, 8);
  });

  it('stores the resource as sent: a read returns the same content (extensions, primitive extensions, contained, narrative)', async () => {
    const sent = {
      resourceType: 'Patient',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Anna Jansen</p></div>' },
      contained: [{ resourceType: 'Organization', id: 'org1', name: 'Huisartsenpraktijk De Bron' }],
      extension: [{ url: 'http://example.org/ext/score', valueInteger: 7 }],
      identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999999011' }],
      active: false,
      name: [{ use: 'official', family: 'Jansen', _family: { extension: [{ url: 'http://example.org/ext/own-name', valueString: 'Jansen' }] }, given: ['Anna'] }],
      telecom: [{ system: 'phone', value: '+31 20 1234567', use: 'home' }],
      gender: 'female',
      birthDate: '1970-03-14',
      _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-03-14T14:35:45+01:00' }] },
      deceasedBoolean: false,
      managingOrganization: { reference: '#org1' },
    };
    // pretty-printed, CRLF line ends: whitespace in the body must not matter
    const body = JSON.stringify(sent, null, 2).replace(/\n/g, '\r\n');
    const res = await send(srv, 'POST', '/fhir/Patient', body);
    assert.equal(res.status, 201, res.text.slice(0, 300));
    const read = await fhir.read({ resourceType: 'Patient', id: res.json.id });
    assert.deepEqual(withoutServerMeta(read), { ...sent, id: res.json.id });
  });

  it('accepts primitive arrays with aligned _element arrays (JSON null placeholders) and keeps them', async () => {
    const sent = patient({
      name: [{ family: 'Jansen', given: ['Anna', 'Maria'], _given: [null, { extension: [{ url: 'http://example.org/ext/roepnaam', valueBoolean: true }] }] }],
      _gender: { id: 'g1', extension: [{ url: 'http://example.org/ext/source', valueString: 'self' }] },
      _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
      birthDate: undefined,
    });
    delete sent.birthDate;
    const res = await send(srv, 'POST', '/fhir/Patient', sent);
    assert.equal(res.status, 201, `${res.status} ${res.text.slice(0, 300)}`);
    const read = await fhir.read({ resourceType: 'Patient', id: res.json.id });
    assert.deepEqual(withoutServerMeta(read), { ...sent, id: res.json.id });
  });

  it('keeps non-ASCII text (UTF-8) unchanged', async () => {
    const name = [{ family: 'Ölçer-Żółć', given: ['Zoë', '李', 'Ĳsbrand'], text: 'Zoë 🙂 Ölçer' }];
    const created = await createPatient({ name });
    const res = await send(srv, 'GET', `/fhir/Patient/${created.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.name, name);
  });

  it('keeps decimal precision exactly as written (1.50, 0.010, 100.000)', async () => {
    const body = '{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
      + '"valueQuantity":{"value":1.50,"unit":"kg"},'
      + '"component":[{"code":{"text":"a"},"valueQuantity":{"value":0.010}},{"code":{"text":"b"},"valueQuantity":{"value":100.000}},'
      + '{"code":{"text":"c"},"valueQuantity":{"value":-3.0e2}}]}';
    const res = await send(srv, 'POST', '/fhir/Observation', body);
    assert.equal(res.status, 201, res.text.slice(0, 300));
    const read = await send(srv, 'GET', `/fhir/Observation/${res.json.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(withoutServerMeta(parseExact(read.text)), { ...parseExact(body), id: res.json.id });
  });

  it('extreme decimals (1e400, 1E-7, 40 digits) are either refused with 400 or kept exactly', async () => {
    for (const lit of ['1e400', '1E-7', '1234567890123456789012345678901234567890', '-0.0']) {
      const body = `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":${lit}}}`;
      const res = await send(srv, 'POST', '/fhir/Observation', body);
      if (res.status === 400) { assertOutcome(res, 400, lit); continue; }
      assert.equal(res.status, 201, `value ${lit}: ${res.status} ${res.text.slice(0, 200)}`);
      const read = await send(srv, 'GET', `/fhir/Observation/${res.json.id}`);
      assert.equal(read.status, 200);
      let parsed;
      assert.doesNotThrow(() => { parsed = parseExact(read.text); }, `value ${lit}: the stored resource is not valid JSON: ${read.text.slice(0, 200)}`);
      assert.deepEqual(parsed.valueQuantity, parseExact(body).valueQuantity, `value ${lit} was changed`);
    }
  });

  it('keeps 18 significant decimal digits (the minimum XML Schema decimal precision FHIR decimals follow)', async () => {
    const body = '{"resourceType":"Observation","status":"final","code":{"text":"precise"},'
      + '"valueQuantity":{"value":0.123456789012345678}}';
    const res = await send(srv, 'POST', '/fhir/Observation', body);
    assert.equal(res.status, 201, res.text.slice(0, 300));
    const read = await send(srv, 'GET', `/fhir/Observation/${res.json.id}`);
    assert.deepEqual(parseExact(read.text).valueQuantity, parseExact(body).valueQuantity);
  });
});

describe('read and vread', () => {
  it('read returns 200 with the resource, ETag and Last-Modified', async () => {
    const created = await createPatient();
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    const res = responseOf(read);
    assert.equal(res.status, 200);
    assert.ok(isFhirJsonType(res.headers.get('content-type')));
    assert.deepEqual(read, created);
    assert.equal(etagVersion(res.headers.get('etag')), '1');
    assertLastModified(res.headers.get('last-modified'), read.meta.lastUpdated);
  });

  it('read of an unknown id gives 404 with an OperationOutcome', async () => {
    const res = await send(srv, 'GET', `/fhir/Patient/${newId('nobody')}`);
    assertOutcome(res, 404);
  });

  it('vread returns each version with its own ETag and Last-Modified', async () => {
    const v1 = await createPatient({ gender: 'female' });
    const v2 = await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v1, gender: 'other' } });
    const r1 = await fhir.vread({ resourceType: 'Patient', id: v1.id, version: '1' });
    const r2 = await fhir.vread({ resourceType: 'Patient', id: v1.id, version: '2' });
    assert.deepEqual(r1, v1);
    assert.deepEqual(r2, v2);
    assert.equal(r1.gender, 'female');
    assert.equal(r2.gender, 'other');
    assert.equal(etagVersion(responseOf(r1).headers.get('etag')), '1');
    assert.equal(etagVersion(responseOf(r2).headers.get('etag')), '2');
    assertLastModified(responseOf(r1).headers.get('last-modified'), r1.meta.lastUpdated);
    assertLastModified(responseOf(r2).headers.get('last-modified'), r2.meta.lastUpdated);
  });

  it('vread of an unknown version gives 404 with an OperationOutcome', async () => {
    const created = await createPatient();
    assertOutcome(await send(srv, 'GET', `/fhir/Patient/${created.id}/_history/7`), 404);
    assertOutcome(await send(srv, 'GET', `/fhir/Patient/${newId('nobody')}/_history/1`), 404);
  });

  it('a percent-encoded unreserved character in the id means the same id (RFC 3986 6.2.2.2)', async () => {
    const id = newId('pct');
    await fhir.update({ resourceType: 'Patient', id, body: patient({ id }) });
    const encoded = id.replace(/-/g, '%2D');
    const res = await send(srv, 'GET', `/fhir/Patient/${encoded}`);
    assert.equal(res.status, 200, `GET Patient/${encoded}: ${res.status}`);
    assert.equal(res.json.id, id);
  });

  it('a 4 MB resource (40,000 identifiers) round-trips', { timeout: 120000 }, async () => {
    const identifier = Array.from({ length: 40000 }, (_, i) => ({ system: 'http://example.org/ids', value: `id-${i}-${'v'.repeat(60)}` }));
    const sent = patient({ identifier });
    const res = await send(srv, 'POST', '/fhir/Patient', sent, { Prefer: 'return=minimal' });
    assert.equal(res.status, 201, `${res.status} ${res.text.slice(0, 200)}`);
    const id = /\/Patient\/([^/]+)\/_history/.exec(location(res))[1];
    const read = await send(srv, 'GET', `/fhir/Patient/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(withoutServerMeta(read.json), { ...sent, id });
  });

  it('reads are case-sensitive on the id', async () => {
    const id = newId('CaseId');
    await fhir.update({ resourceType: 'Patient', id, body: patient({ id }) });
    const res = await send(srv, 'GET', `/fhir/Patient/${id.toLowerCase()}`);
    assertOutcome(res, 404);
  });
});

describe('update (PUT [base]/[type]/[id])', () => {
  it('returns 200 with ETag W/"2", Last-Modified, and replaces the whole content', async () => {
    const v1 = await createPatient({ telecom: [{ system: 'email', value: 'a@example.org' }] });
    const body = { resourceType: 'Patient', id: v1.id, active: false, name: [{ family: 'Pietersen' }] };
    const v2 = await fhir.update({ resourceType: 'Patient', id: v1.id, body });
    const res = responseOf(v2);
    assert.equal(res.status, 200);
    assert.equal(etagVersion(res.headers.get('etag')), '2');
    assertServerMeta(v2, '2');
    assertLastModified(res.headers.get('last-modified'), v2.meta.lastUpdated);
    assert.deepEqual(withoutServerMeta(v2), body);
    const read = await fhir.read({ resourceType: 'Patient', id: v1.id });
    assert.deepEqual(read, v2);
    assert.equal(read.telecom, undefined, 'elements left out of an update are gone');
  });

  it('ignores meta.versionId and meta.lastUpdated in the body but keeps meta.tag', async () => {
    const v1 = await createPatient();
    const meta = { versionId: '99', lastUpdated: '2002-02-02T02:02:02Z', tag: [{ system: 'http://example.org/t', code: 'x' }] };
    const v2 = await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v1, meta } });
    assertServerMeta(v2, '2');
    assert.deepEqual(v2.meta.tag, meta.tag);
  });

  it('update-as-create with a new client id gives 201, Location and version 1', async () => {
    const id = newId('client');
    const res = await send(srv, 'PUT', `/fhir/Patient/${id}`, patient({ id }));
    assert.equal(res.status, 201, res.text.slice(0, 300));
    assert.equal(res.json.id, id);
    assertServerMeta(res.json, '1');
    assert.equal(etagVersion(res.headers.etag), '1');
    assertLastModified(res.headers['last-modified'], res.json.meta.lastUpdated);
    assert.equal(new URL(location(res), `${srv.base}/Patient/${id}`).href, `${srv.base}/Patient/${id}/_history/1`);
    const read = await fhir.read({ resourceType: 'Patient', id });
    assert.deepEqual(read, res.json);
  });

  it('accepts ids of 64 characters and every allowed character (A-Z a-z 0-9 - .)', async () => {
    for (const id of ['A'.repeat(64), 'a-b.C-9.z', '1', 'x'.repeat(63) + '.']) {
      const res = await send(srv, 'PUT', `/fhir/Basic/${id}`, { resourceType: 'Basic', id, code: { text: 'id test' } });
      assert.equal(res.status, 201, `PUT Basic/${id}: ${res.status} ${res.text.slice(0, 200)}`);
      const read = await send(srv, 'GET', `/fhir/Basic/${id}`);
      assert.equal(read.status, 200);
      assert.equal(read.json.id, id);
    }
  });

  it('If-Match with the current version succeeds; a stale If-Match gives 412 and changes nothing', async () => {
    const v1 = await createPatient();
    const v2 = await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v1, gender: 'male' }, options: { headers: { 'If-Match': 'W/"1"' } } });
    assert.equal(v2.meta.versionId, '2');
    const stale = await send(srv, 'PUT', `/fhir/Patient/${v1.id}`, { ...v1, gender: 'unknown' }, { 'If-Match': 'W/"1"' });
    assertOutcome(stale, 412, 'stale If-Match');
    const read = await fhir.read({ resourceType: 'Patient', id: v1.id });
    assert.deepEqual(read, v2, 'a rejected update must not change the resource');
    assert.equal((await history('Patient', v1.id)).length, 2, 'a rejected update must not add a version');
  });

  it('If-Match on a resource that does not exist gives 412 (or 404), and nothing is created', async () => {
    const id = newId('absent');
    const res = await send(srv, 'PUT', `/fhir/Patient/${id}`, patient({ id }), { 'If-Match': 'W/"1"' });
    assertOutcome(res, [412, 404]);
    assertOutcome(await send(srv, 'GET', `/fhir/Patient/${id}`), 404, 'read after the rejected update');
  });
});

describe('conditional read (If-None-Match, If-Modified-Since)', () => {
  it('If-None-Match with the current ETag gives 304 with the ETag and no body', async () => {
    const created = await createPatient();
    const res = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-None-Match': 'W/"1"' });
    assert.equal(res.status, 304);
    assert.equal(res.bytes.length, 0, '304 has no body');
    assert.equal(etagVersion(res.headers.etag), '1', '304 must carry the ETag a 200 would have (RFC 9110 15.4.5)');
  });

  it('If-None-Match follows HTTP: weak comparison ("1" matches W/"1") and a list of ETags (RFC 9110 13.1.2)', async () => {
    const created = await createPatient();
    const strong = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-None-Match': '"1"' });
    assert.equal(strong.status, 304, 'If-None-Match uses the weak comparison');
    const list = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-None-Match': 'W/"7", W/"1"' });
    assert.equal(list.status, 304, 'a list of ETags matches if any one does');
    const none = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-None-Match': 'W/"7", W/"8"' });
    assert.equal(none.status, 200);
  });

  it('If-Modified-Since is ignored when If-None-Match is present (RFC 9110 13.1.3)', async () => {
    const created = await createPatient();
    const future = new Date(Date.now() + 86400e3).toUTCString();
    const res = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-None-Match': 'W/"9"', 'If-Modified-Since': future });
    assert.equal(res.status, 200, 'the ETag does not match, so the resource is sent whatever If-Modified-Since says');
    assert.equal(res.json.id, created.id);
  });

  it('If-None-Match with an older ETag gives 200 and the current version', async () => {
    const v1 = await createPatient();
    await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v1, active: false } });
    const res = await send(srv, 'GET', `/fhir/Patient/${v1.id}`, undefined, { 'If-None-Match': 'W/"1"' });
    assert.equal(res.status, 200);
    assert.equal(res.json.meta.versionId, '2');
    assert.equal(etagVersion(res.headers.etag), '2');
  });

  it('If-Modified-Since equal to or after Last-Modified gives 304; before it gives 200', async () => {
    const created = await createPatient();
    const first = await send(srv, 'GET', `/fhir/Patient/${created.id}`);
    const lm = first.headers['last-modified'];
    assertLastModified(lm, created.meta.lastUpdated);
    const same = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-Modified-Since': lm });
    assert.equal(same.status, 304, 'If-Modified-Since = Last-Modified: not modified since');
    assert.equal(same.bytes.length, 0);
    const later = new Date(Date.parse(lm) + 3600e3).toUTCString();
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-Modified-Since': later })).status, 304);
    const earlier = new Date(Date.parse(lm) - 86400e3).toUTCString();
    const mod = await send(srv, 'GET', `/fhir/Patient/${created.id}`, undefined, { 'If-Modified-Since': earlier });
    assert.equal(mod.status, 200);
    assert.equal(mod.json.id, created.id);
  });
});

describe('delete (DELETE [base]/[type]/[id])', () => {
  it('gives 200 or 204, then read gives 410 Gone', async () => {
    const created = await createPatient();
    const del = await send(srv, 'DELETE', `/fhir/Patient/${created.id}`);
    assert.ok([200, 204].includes(del.status), `delete: ${del.status} ${del.text.slice(0, 200)}`);
    if (del.status === 204) assert.equal(del.bytes.length, 0, '204 has no body');
    const read = await send(srv, 'GET', `/fhir/Patient/${created.id}`);
    assert.equal(read.status, 410, `read after delete: ${read.status}`);
    if (read.bytes.length) assertOutcomeBody(read.json);
    const kit = await rejects(fhir.read({ resourceType: 'Patient', id: created.id }));
    assert.equal(kit.status, 410);
  });

  it('keeps the history: vread of the old version works, vread of the deleted version gives 410', async () => {
    const created = await createPatient();
    await fhir.delete({ resourceType: 'Patient', id: created.id });
    const v1 = await fhir.vread({ resourceType: 'Patient', id: created.id, version: '1' });
    assert.deepEqual(v1, created);
    const entries = await history('Patient', created.id);
    assert.equal(entries.length, 2, 'history has the create and the delete');
    assert.equal(entries[0].request.method, 'DELETE');
    assert.equal(entries[0].resource, undefined);
    const delVersion = etagVersion(entries[0].response.etag);
    assert.notEqual(delVersion, '1');
    const gone = await send(srv, 'GET', `/fhir/Patient/${created.id}/_history/${delVersion}`);
    assert.equal(gone.status, 410, `vread of the deleted version: ${gone.status}`);
  });

  it('deleting an already deleted resource has no effect and gives 200 or 204', async () => {
    const created = await createPatient();
    await fhir.delete({ resourceType: 'Patient', id: created.id });
    const before = await history('Patient', created.id);
    const again = await send(srv, 'DELETE', `/fhir/Patient/${created.id}`);
    assert.ok([200, 204].includes(again.status), `second delete: ${again.status} ${again.text.slice(0, 200)}`);
    const afterEntries = await history('Patient', created.id);
    assert.deepEqual(afterEntries, before, 'a second delete must not add a version');
  });

  it('deleting a resource that never existed gives 200 or 204 and stores nothing', async () => {
    const id = newId('never');
    const res = await send(srv, 'DELETE', `/fhir/Patient/${id}`);
    assert.ok([200, 204].includes(res.status), `delete of an absent resource: ${res.status} ${res.text.slice(0, 200)}`);
    const read = await send(srv, 'GET', `/fhir/Patient/${id}`);
    assert.equal(read.status, 404, 'a resource that never existed is unknown (404), not deleted (410)');
  });

  it('an update brings a deleted resource back to life with a new version', async () => {
    const created = await createPatient();
    await fhir.delete({ resourceType: 'Patient', id: created.id });
    const res = await send(srv, 'PUT', `/fhir/Patient/${created.id}`, { ...created, active: false });
    assert.ok([200, 201].includes(res.status), `update after delete: ${res.status} ${res.text.slice(0, 200)}`);
    const v = res.json.meta.versionId;
    assert.equal(etagVersion(res.headers.etag), v);
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.equal(read.active, false);
    assert.equal(read.meta.versionId, v);
    const entries = await history('Patient', created.id);
    assert.deepEqual(entries.map((e) => e.request.method), ['PUT', 'DELETE', 'POST']);
    const versions = entries.map((e) => etagVersion(e.response.etag));
    assert.equal(new Set(versions).size, 3, `version ids must be unique within the resource: ${versions}`);
    assert.equal(versions[0], v, 'the newest history entry is the revived version');
  });
});

describe('patch (PATCH with application/json-patch+json)', () => {
  it('applies add, replace, remove, copy, move and test, and makes a new version', async () => {
    const created = await createPatient({ telecom: [{ system: 'phone', value: '123' }] });
    const jsonPatch = [
      { op: 'test', path: '/active', value: true },
      { op: 'replace', path: '/active', value: false },
      { op: 'add', path: '/name/0/given/-', value: 'Sophie' },
      { op: 'remove', path: '/telecom' },
      { op: 'add', path: '/address', value: [{ city: 'Utrecht' }] },
      { op: 'copy', from: '/name/0', path: '/name/1' },
      { op: 'move', from: '/name/1/family', path: '/name/1/text' },
    ];
    const patched = await fhir.patch({ resourceType: 'Patient', id: created.id, jsonPatch });
    const res = responseOf(patched);
    assert.equal(res.status, 200);
    assert.equal(etagVersion(res.headers.get('etag')), '2');
    assertServerMeta(patched, '2');
    assert.equal(patched.active, false);
    assert.deepEqual(patched.name, [
      { family: 'Jansen', given: ['Anna', 'Maria', 'Sophie'] },
      { given: ['Anna', 'Maria', 'Sophie'], text: 'Jansen' },
    ]);
    assert.equal(patched.telecom, undefined);
    assert.deepEqual(patched.address, [{ city: 'Utrecht' }]);
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.deepEqual(read, patched);
  });

  it('accepts application/json-patch+json with a charset parameter', async () => {
    const created = await createPatient();
    const res = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`, [{ op: 'replace', path: '/gender', value: 'male' }],
      { 'content-type': 'application/json-patch+json; charset=utf-8' });
    assert.equal(res.status, 200, `${res.status} ${res.text.slice(0, 200)}`);
    assert.equal((await fhir.read({ resourceType: 'Patient', id: created.id })).gender, 'male');
  });

  it('a failing test op is rejected with 422 (or 409/412) and an OperationOutcome, and nothing changes', async () => {
    const created = await createPatient();
    const res = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'test', path: '/gender', value: 'male' }, { op: 'replace', path: '/active', value: false }],
      { 'content-type': 'application/json-patch+json' });
    assertOutcome(res, [422, 409, 412]);
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.deepEqual(read, created);
  });

  it('If-Match: stale version gives 412, current version succeeds', async () => {
    const created = await createPatient();
    await fhir.update({ resourceType: 'Patient', id: created.id, body: { ...created, gender: 'male' } });
    const ops = [{ op: 'replace', path: '/active', value: false }];
    const stale = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`, ops,
      { 'content-type': 'application/json-patch+json', 'If-Match': 'W/"1"' });
    assertOutcome(stale, 412);
    const ok = await fhir.patch({ resourceType: 'Patient', id: created.id, jsonPatch: ops, options: { headers: { 'If-Match': 'W/"2"' } } });
    assert.equal(ok.meta.versionId, '3');
    assert.equal(ok.active, false);
  });

  it('a patch whose result is not a valid resource is rejected (400/422) and nothing changes', async () => {
    const created = await createPatient();
    const type = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'replace', path: '/active', value: 'yes' }], { 'content-type': 'application/json-patch+json' });
    assertOutcome(type, [400, 422], 'patch to active="yes"');
    const unknown = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'add', path: '/favouriteColour', value: 'blue' }], { 'content-type': 'application/json-patch+json' });
    assertOutcome(unknown, [400, 422], 'patch adding an unknown element');
    const id = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'replace', path: '/id', value: 'someone-else' }], { 'content-type': 'application/json-patch+json' });
    assertOutcome(id, [400, 422], 'patch changing the id');
    const rt = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'replace', path: '/resourceType', value: 'Practitioner' }], { 'content-type': 'application/json-patch+json' });
    assertOutcome(rt, [400, 422], 'patch changing the resourceType');
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.deepEqual(read, created);
    assert.equal((await send(srv, 'GET', '/fhir/Patient/someone-else')).status, 404);
  });

  it('a malformed patch document gives 400 and nothing changes', async () => {
    const created = await createPatient();
    for (const body of [
      '{"op":"replace","path":"/active","value":false}', // not an array
      '[{"op":"frobnicate","path":"/active"}]', // unknown op
      '[{"op":"replace","value":false}]', // no path
      '[{"op":"replace","path":"active","value":false}]', // path not a JSON Pointer
      '[{"op":"replace","path":"/active"', // not JSON
    ]) {
      const res = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`, body, { 'content-type': 'application/json-patch+json' });
      assertOutcome(res, [400, 422], `patch ${body}`);
    }
    const read = await fhir.read({ resourceType: 'Patient', id: created.id });
    assert.deepEqual(read, created);
  });

  it('a patch that fails on a missing path is rejected and nothing changes', async () => {
    const created = await createPatient();
    const res = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`,
      [{ op: 'replace', path: '/active', value: false }, { op: 'remove', path: '/telecom/3' }],
      { 'content-type': 'application/json-patch+json' });
    assertOutcome(res, [400, 409, 422]);
    assert.deepEqual(await fhir.read({ resourceType: 'Patient', id: created.id }), created);
  });

  it('patch of an unknown id gives 404, of a deleted one 410 (or 404)', async () => {
    const ops = [{ op: 'replace', path: '/active', value: false }];
    const res = await send(srv, 'PATCH', `/fhir/Patient/${newId('nobody')}`, ops, { 'content-type': 'application/json-patch+json' });
    assertOutcome(res, 404);
    const created = await createPatient();
    await fhir.delete({ resourceType: 'Patient', id: created.id });
    const gone = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`, ops, { 'content-type': 'application/json-patch+json' });
    assertOutcome(gone, [410, 404]);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${created.id}`)).status, 410);
  });
});

describe('Prefer: return=', () => {
  it('minimal on create: 201, Location, ETag, empty body', async () => {
    const res = await send(srv, 'POST', '/fhir/Patient', patient(), { Prefer: 'return=minimal' });
    assert.equal(res.status, 201);
    assert.equal(res.bytes.length, 0, `return=minimal body: ${res.text.slice(0, 200)}`);
    const loc = new URL(location(res), `${srv.base}/Patient`);
    const m = /\/fhir\/Patient\/([^/]+)\/_history\/1$/.exec(loc.pathname);
    assert.ok(m, `Location ${loc.href}`);
    assert.equal(etagVersion(res.headers.etag), '1');
    assert.ok(res.headers['last-modified']);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${m[1]}`)).status, 200);
  });

  it('minimal on update and patch: 200, ETag, empty body', async () => {
    const created = await createPatient();
    const up = await send(srv, 'PUT', `/fhir/Patient/${created.id}`, { ...created, active: false }, { Prefer: 'return=minimal' });
    assert.equal(up.status, 200);
    assert.equal(up.bytes.length, 0);
    assert.equal(etagVersion(up.headers.etag), '2');
    const pa = await send(srv, 'PATCH', `/fhir/Patient/${created.id}`, [{ op: 'replace', path: '/active', value: true }],
      { 'content-type': 'application/json-patch+json', Prefer: 'return=minimal' });
    assert.equal(pa.status, 200);
    assert.equal(pa.bytes.length, 0);
    assert.equal(etagVersion(pa.headers.etag), '3');
  });

  it('representation returns the stored resource on create, update and patch', async () => {
    const res = await send(srv, 'POST', '/fhir/Patient', patient(), { Prefer: 'return=representation' });
    assert.equal(res.status, 201);
    assert.equal(res.json.resourceType, 'Patient');
    assertServerMeta(res.json, '1');
    const up = await send(srv, 'PUT', `/fhir/Patient/${res.json.id}`, { ...res.json, active: false }, { Prefer: 'return=representation' });
    assert.equal(up.status, 200);
    assert.equal(up.json.active, false);
    assertServerMeta(up.json, '2');
    const pa = await send(srv, 'PATCH', `/fhir/Patient/${res.json.id}`, [{ op: 'replace', path: '/active', value: true }],
      { 'content-type': 'application/json-patch+json', Prefer: 'return=representation' });
    assert.equal(pa.status, 200);
    assert.equal(pa.json.active, true);
    assertServerMeta(pa.json, '3');
    const read = await send(srv, 'GET', `/fhir/Patient/${res.json.id}`);
    assert.deepEqual(read.json, pa.json);
  });

  it('OperationOutcome returns an OperationOutcome (no errors) on create, update and patch', async () => {
    const check = (res, status) => {
      assert.equal(res.status, status, res.text.slice(0, 200));
      assert.equal(res.json && res.json.resourceType, 'OperationOutcome', `body: ${res.text.slice(0, 200)}`);
      assert.ok(Array.isArray(res.json.issue) && res.json.issue.length > 0, 'OperationOutcome.issue is 1..*');
      assert.ok(!res.json.issue.some((i) => i.severity === 'error' || i.severity === 'fatal'), 'a success outcome has no errors');
    };
    const res = await send(srv, 'POST', '/fhir/Patient', patient(), { Prefer: 'return=OperationOutcome' });
    check(res, 201);
    const loc = new URL(location(res), `${srv.base}/Patient`);
    const id = /\/Patient\/([^/]+)\/_history/.exec(loc.pathname)[1];
    check(await send(srv, 'PUT', `/fhir/Patient/${id}`, patient({ id }), { Prefer: 'return=OperationOutcome' }), 200);
    check(await send(srv, 'PATCH', `/fhir/Patient/${id}`, [{ op: 'replace', path: '/active', value: false }],
      { 'content-type': 'application/json-patch+json', Prefer: 'return=OperationOutcome' }), 200);
    assert.equal((await fhir.read({ resourceType: 'Patient', id })).meta.versionId, '3');
  });
});

describe('lastUpdated', () => {
  it('is a FHIR instant that increases with every version', async () => {
    const v1 = await createPatient();
    const v2 = await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v1, active: false } });
    const v3 = await fhir.update({ resourceType: 'Patient', id: v1.id, body: { ...v2, active: true } });
    for (const v of [v1, v2, v3]) assert.match(v.meta.lastUpdated, INSTANT_RE);
    assert.ok(Date.parse(v1.meta.lastUpdated) <= Date.parse(v2.meta.lastUpdated));
    assert.ok(Date.parse(v2.meta.lastUpdated) <= Date.parse(v3.meta.lastUpdated));
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});

