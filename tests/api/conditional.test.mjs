// Conditional create (If-None-Exist), conditional update (PUT [type]?criteria)
// and conditional delete (DELETE [type]?criteria), FHIR R4 http.html#ccreate,
// #cond-update, conditional delete - tested when the CapabilityStatement
// declares them supported (errors.test.mjs covers the "unsupported" answers).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, etagVersion, assertOutcome, allPages, send, newId } from './lib/fhir.mjs';

let srv;
let fhir;
let caps;

before(async () => {
  srv = await startServer();
  fhir = client(srv);
  const cs = await fhir.capabilityStatement();
  caps = cs.rest[0].resource.find((r) => r.type === 'Patient');
});
after(async () => { if (srv) await srv.stop(); });

const system = () => `http://example.org/mrn/${newId('sys')}`;
const withIdentifier = (sys, value, extra = {}) => ({ resourceType: 'Patient', identifier: [{ system: sys, value }], ...extra });
const crit = (sys, value) => `identifier=${encodeURIComponent(`${sys}|${value}`)}`;
const patientVersions = async () => (await allPages(srv, '/fhir/Patient/_history?_count=1000')).entries.length;

describe('conditional create (If-None-Exist)', () => {
  it('no match: creates (201); one match: 200 and nothing created; several matches: 412 and nothing created', async (t) => {
    if (!caps.conditionalCreate) { t.skip('conditional create is not declared supported'); return; }
    const sys = system();
    const header = { 'If-None-Exist': `identifier=${sys}|1` };
    const first = await send(srv, 'POST', '/fhir/Patient', withIdentifier(sys, '1'), header);
    assert.equal(first.status, 201, `no match: ${first.status} ${first.text.slice(0, 200)}`);
    const id = first.json.id;

    const before = await patientVersions();
    const again = await send(srv, 'POST', '/fhir/Patient', withIdentifier(sys, '1', { active: true }), header);
    assert.equal(again.status, 200, `one match: ${again.status} ${again.text.slice(0, 200)}`);
    if (again.json && again.json.resourceType === 'Patient') assert.equal(again.json.id, id);
    assert.equal(await patientVersions(), before, 'one match: nothing may be created or changed');
    assert.equal((await fhir.read({ resourceType: 'Patient', id })).active, undefined);

    await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '1') });
    const before2 = await patientVersions();
    const many = await send(srv, 'POST', '/fhir/Patient', withIdentifier(sys, '1'), header);
    assertOutcome(many, 412, 'several matches');
    assert.equal(await patientVersions(), before2);
  });
});

describe('conditional update (PUT [type]?criteria)', () => {
  it('no match: creates (201); one match: updates that resource (200, next version)', async (t) => {
    if (!caps.conditionalUpdate) { t.skip('conditional update is not declared supported'); return; }
    const sys = system();
    const created = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '7')}`, withIdentifier(sys, '7', { gender: 'female' }));
    assert.equal(created.status, 201, `no match: ${created.status} ${created.text.slice(0, 200)}`);
    const id = created.json.id;
    assert.equal(etagVersion(created.headers.etag), '1');

    const updated = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '7')}`, withIdentifier(sys, '7', { gender: 'male' }));
    assert.equal(updated.status, 200, `one match: ${updated.status} ${updated.text.slice(0, 200)}`);
    assert.equal(updated.json.id, id, 'the matching resource is updated');
    assert.equal(updated.json.meta.versionId, '2');
    const read = await fhir.read({ resourceType: 'Patient', id });
    assert.equal(read.gender, 'male');

    const withId = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '7')}`, withIdentifier(sys, '7', { id, gender: 'other' }));
    assert.equal(withId.status, 200, `one match, body id equal to it: ${withId.status}`);
    assert.equal(withId.json.meta.versionId, '3');
  });

  it('several matches: 412 and nothing changes', async (t) => {
    if (!caps.conditionalUpdate) { t.skip('conditional update is not declared supported'); return; }
    const sys = system();
    const a = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '8') });
    const b = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '8') });
    const before = await patientVersions();
    const res = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '8')}`, withIdentifier(sys, '8', { active: false }));
    assertOutcome(res, 412);
    assert.equal(await patientVersions(), before);
    assert.deepEqual(await fhir.read({ resourceType: 'Patient', id: a.id }), a);
    assert.deepEqual(await fhir.read({ resourceType: 'Patient', id: b.id }), b);
  });
});

describe('conditional delete (DELETE [type]?criteria)', () => {
  it('one match: deleted (200/204, then 410); no match: 200/204 and nothing deleted', async (t) => {
    if (!caps.conditionalDelete || caps.conditionalDelete === 'not-supported') { t.skip('conditional delete is not declared supported'); return; }
    const sys = system();
    const p = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '9') });
    const other = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '10') });
    const del = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '9')}`);
    assert.ok([200, 204].includes(del.status), `one match: ${del.status} ${del.text.slice(0, 200)}`);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${p.id}`)).status, 410);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${other.id}`)).status, 200, 'a resource that did not match was deleted');

    const before = await patientVersions();
    const none = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, 'no-such-value')}`);
    assert.ok([200, 204].includes(none.status), `no match: ${none.status} ${none.text.slice(0, 200)}`);
    assert.equal(await patientVersions(), before);
  });

  it('several matches: 412 when only single deletes are declared, else all deleted', async (t) => {
    if (!caps.conditionalDelete || caps.conditionalDelete === 'not-supported') { t.skip('conditional delete is not declared supported'); return; }
    const sys = system();
    const a = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '11') });
    const b = await fhir.create({ resourceType: 'Patient', body: withIdentifier(sys, '11') });
    const res = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '11')}`);
    if (caps.conditionalDelete === 'single') {
      assertOutcome(res, 412, 'conditionalDelete is "single"');
      assert.equal((await send(srv, 'GET', `/fhir/Patient/${a.id}`)).status, 200);
      assert.equal((await send(srv, 'GET', `/fhir/Patient/${b.id}`)).status, 200);
    } else {
      assert.ok([200, 204].includes(res.status), `conditionalDelete "multiple": ${res.status}`);
      assert.equal((await send(srv, 'GET', `/fhir/Patient/${a.id}`)).status, 410);
      assert.equal((await send(srv, 'GET', `/fhir/Patient/${b.id}`)).status, 410);
    }
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});
