// Conditional create / update / delete end to end with fhir-kit-client and
// raw HTTP (FHIR R4 http.html#ccreate, #cond-update, #3.1.0.7.1), including
// races: 16 concurrent conditional creates (and updates) with the same
// criteria produce exactly one resource. conditional.test.mjs has the
// capability-gated basics; this file checks the detailed rules.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, responseOf, etagVersion, assertOutcome, rejects, send, newId } from './lib/fhir.mjs';
import { idsOf } from './lib/search.mjs';

let srv;
let fhir;
before(async () => {
  srv = await startServer();
  fhir = client(srv);
});
after(async () => { if (srv) await srv.stop(); });

const newSystem = () => `http://bron.test/mrn/${newId('s')}`;
const patient = (sys, value, extra = {}) => ({ resourceType: 'Patient', identifier: [{ system: sys, value }], ...extra });
const crit = (sys, value) => `identifier=${encodeURIComponent(`${sys}|${value}`)}`;
async function matches(sys, value) {
  const b = await fhir.search({ resourceType: 'Patient', searchParams: { identifier: `${sys}|${value}`, _count: 100 } });
  return idsOf(b);
}
async function historyLength(id) {
  const b = await fhir.history({ resourceType: 'Patient', id });
  return (b.entry || []).length;
}

describe('conditional create (If-None-Exist)', () => {
  it('no match → 201 Created with Location and ETag', async () => {
    const sys = newSystem();
    const created = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1'), options: { headers: { 'If-None-Exist': crit(sys, '1') } } });
    const res = responseOf(created);
    assert.equal(res.status, 201);
    assert.match(res.headers.get('location'), new RegExp(`/fhir/Patient/${created.id}/_history/1$`));
    assert.equal(etagVersion(res.headers.get('etag')), '1');
    assert.deepEqual(await matches(sys, '1'), [created.id]);
  });
  it('one match → 200 OK with the existing resource, nothing created or changed', async () => {
    const sys = newSystem();
    const first = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1', { gender: 'female' }) });
    const again = await send(srv, 'POST', '/fhir/Patient', patient(sys, '1', { gender: 'male' }), { 'If-None-Exist': crit(sys, '1'), prefer: 'return=representation' });
    assert.equal(again.status, 200, again.text.slice(0, 300));
    assert.equal(again.json.resourceType, 'Patient');
    assert.equal(again.json.id, first.id, 'the existing resource is returned');
    assert.equal(again.json.gender, 'female', 'the existing resource, not the posted one');
    if (again.headers.location) assert.ok(again.headers.location.includes(`/Patient/${first.id}`), `Location ${again.headers.location} points at the existing resource`);
    if (again.headers.etag) assert.equal(etagVersion(again.headers.etag), '1');
    assert.deepEqual(await matches(sys, '1'), [first.id]);
    assert.equal(await historyLength(first.id), 1);
    // through the client too
    const viaClient = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1'), options: { headers: { 'If-None-Exist': crit(sys, '1') } } });
    assert.equal(responseOf(viaClient).status, 200);
    assert.deepEqual(await matches(sys, '1'), [first.id]);
  });
  it('several matches → 412 Precondition Failed, nothing created', async () => {
    const sys = newSystem();
    await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const res = await send(srv, 'POST', '/fhir/Patient', patient(sys, '1'), { 'If-None-Exist': crit(sys, '1') });
    assertOutcome(res, 412);
    assert.equal((await matches(sys, '1')).length, 2);
  });
  it('criteria with several parameters, and deleted resources never match', async () => {
    const sys = newSystem();
    const a = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1', { gender: 'female' }) });
    const both = `${crit(sys, '1')}&gender=male`;
    const res = await send(srv, 'POST', '/fhir/Patient', patient(sys, '1', { gender: 'male' }), { 'If-None-Exist': both });
    assert.equal(res.status, 201, 'gender=male does not match the female patient');
    await fhir.delete({ resourceType: 'Patient', id: res.json.id });
    const again = await send(srv, 'POST', '/fhir/Patient', patient(sys, '1', { gender: 'male' }), { 'If-None-Exist': both });
    assert.equal(again.status, 201, 'a deleted resource is no match');
    assert.notEqual(again.json.id, res.json.id);
    assert.deepEqual((await matches(sys, '1')).sort(), [a.id, again.json.id].sort());
  });
  it('unknown or malformed criteria → 400, nothing created', async () => {
    const sys = newSystem();
    for (const h of ['no-such-param=1', 'birthdate=2020-13-45', `${crit(sys, '1')}&name:nosuchmodifier=x`]) {
      const res = await send(srv, 'POST', '/fhir/Patient', patient(sys, '1'), { 'If-None-Exist': h });
      assertOutcome(res, 400, `If-None-Exist: ${h}`);
    }
    assert.deepEqual(await matches(sys, '1'), []);
  });
  it('16 concurrent conditional creates with the same criteria produce exactly one resource', async () => {
    const sys = newSystem();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => send(srv, 'POST', '/fhir/Patient', patient(sys, 'race', { name: [{ family: `Racer${i}` }] }), { 'If-None-Exist': crit(sys, 'race') })));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(15).fill(200), 201], `one 201 and fifteen 200: ${statuses}`);
    const found = await matches(sys, 'race');
    assert.equal(found.length, 1, `${found.length} resources created by 16 racing conditional creates`);
    const winner = results.find((r) => r.status === 201).json.id;
    assert.equal(found[0], winner);
    for (const r of results.filter((x) => x.status === 200 && x.json && x.json.resourceType === 'Patient')) assert.equal(r.json.id, winner);
    assert.equal(await historyLength(winner), 1);
  });
});

describe('conditional update (PUT [type]?criteria)', () => {
  it('no match, no id → creates (201) with a server id', async () => {
    const sys = newSystem();
    const created = await fhir.update({ resourceType: 'Patient', searchParams: { identifier: `${sys}|1` }, body: patient(sys, '1', { gender: 'other' }) });
    const res = responseOf(created);
    assert.equal(res.status, 201);
    assert.ok(res.headers.get('location').includes(`/Patient/${created.id}/_history/1`));
    assert.deepEqual(await matches(sys, '1'), [created.id]);
  });
  it('no match, id in the body → update as create with that id (201)', async () => {
    const sys = newSystem();
    const id = newId('cu');
    const res = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '1')}`, patient(sys, '1', { id }));
    assert.equal(res.status, 201, res.text.slice(0, 300));
    assert.equal(res.json.id, id);
    assert.equal((await fhir.read({ resourceType: 'Patient', id })).id, id);
  });
  it('one match → updates that resource (200, version 2), with or without the id in the body', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1', { gender: 'female' }) });
    const upd = await fhir.update({ resourceType: 'Patient', searchParams: { identifier: `${sys}|1` }, body: patient(sys, '1', { gender: 'male' }) });
    assert.equal(responseOf(upd).status, 200);
    assert.equal(upd.id, p.id);
    assert.equal(upd.meta.versionId, '2');
    assert.equal(etagVersion(responseOf(upd).headers.get('etag')), '2');
    const upd2 = await fhir.update({ resourceType: 'Patient', searchParams: { identifier: `${sys}|1` }, body: patient(sys, '1', { id: p.id, gender: 'unknown' }) });
    assert.equal(upd2.meta.versionId, '3');
    assert.equal((await fhir.read({ resourceType: 'Patient', id: p.id })).gender, 'unknown');
    assert.deepEqual(await matches(sys, '1'), [p.id]);
  });
  it('one match but a different id in the body → 400, nothing changes', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const res = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, '1')}`, patient(sys, '1', { id: 'some-other-id', active: true }));
    assertOutcome(res, 400);
    assert.equal(await historyLength(p.id), 1);
    assert.equal((await send(srv, 'GET', '/fhir/Patient/some-other-id')).status, 404);
  });
  it('several matches → 412, nothing changes', async () => {
    const sys = newSystem();
    const a = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const b = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const err = await rejects(fhir.update({ resourceType: 'Patient', searchParams: { identifier: `${sys}|1` }, body: patient(sys, '1', { active: true }) }));
    assert.equal(err.status, 412);
    assert.equal(await historyLength(a.id), 1);
    assert.equal(await historyLength(b.id), 1);
  });
  it('a deleted match does not count: one live match is updated', async () => {
    const sys = newSystem();
    const a = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const b = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    await fhir.delete({ resourceType: 'Patient', id: a.id });
    const upd = await fhir.update({ resourceType: 'Patient', searchParams: { identifier: `${sys}|1` }, body: patient(sys, '1', { active: true }) });
    assert.equal(upd.id, b.id);
    assert.equal(upd.meta.versionId, '2');
  });
  it('the criteria see the current values only', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, 'old') });
    await fhir.update({ resourceType: 'Patient', id: p.id, body: patient(sys, 'new', { id: p.id }) });
    const res = await send(srv, 'PUT', `/fhir/Patient?${crit(sys, 'old')}`, patient(sys, 'old'));
    assert.equal(res.status, 201, 'the old identifier no longer matches: a new resource');
    assert.notEqual(res.json.id, p.id);
  });
  it('a type-less or criteria-less conditional update is refused', async () => {
    const res = await send(srv, 'PUT', '/fhir/Patient?', patient(newSystem(), '1'));
    assertOutcome(res, [400, 405, 412]);
    const strictCrit = await send(srv, 'PUT', '/fhir/Patient?no-such-param=1', patient(newSystem(), '1'));
    assertOutcome(strictCrit, [400, 412], 'unknown parameter in conditional update criteria');
  });
  it('16 concurrent conditional updates with the same criteria and no match create one resource', async () => {
    const sys = newSystem();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => send(srv, 'PUT', `/fhir/Patient?${crit(sys, 'race')}`, patient(sys, 'race', { name: [{ family: `U${i}` }] }))));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 201).length, 1, `exactly one create: ${statuses}`);
    assert.equal(statuses.filter((s) => s === 200).length, 15, `the rest update it: ${statuses}`);
    const found = await matches(sys, 'race');
    assert.equal(found.length, 1);
    assert.equal(await historyLength(found[0]), 16, 'no update lost');
  });
});

describe('conditional delete (DELETE [type]?criteria)', () => {
  it('one match → deleted; then 410 on read and gone from search', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const keep = await fhir.create({ resourceType: 'Patient', body: patient(sys, '2') });
    const res = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '1')}`);
    assert.ok([200, 204].includes(res.status), `${res.status} ${res.text.slice(0, 200)}`);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${p.id}`)).status, 410);
    assert.deepEqual(await matches(sys, '1'), []);
    assert.deepEqual(await matches(sys, '2'), [keep.id]);
    const h = await fhir.history({ resourceType: 'Patient', id: p.id });
    assert.equal(h.entry.length, 2);
    assert.equal(h.entry[0].request.method, 'DELETE');
  });
  it('no match → 200/204, nothing deleted', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const res = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, 'nope')}`);
    assert.ok([200, 204].includes(res.status), `${res.status} ${res.text.slice(0, 200)}`);
    assert.equal(await historyLength(p.id), 1);
  });
  it('several matches: all deleted when conditionalDelete is multiple, else 412 and none', async () => {
    const sys = newSystem();
    const a = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const b = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    const cs = await send(srv, 'GET', '/fhir/metadata');
    const mode = JSON.parse(cs.text || cs.body || '{}').rest[0].resource
      .find((r) => r.type === 'Patient').conditionalDelete;
    if (mode === 'multiple') {
      const del = await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '1')}`);
      assert.equal(del.status, 200, del.text);
      assert.deepEqual(await matches(sys, '1'), []);
      for (const id of [a.id, b.id]) assert.equal((await send(srv, 'GET', `/fhir/Patient/${id}`)).status, 410);
    } else {
      assertOutcome(await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '1')}`), 412);
      assert.deepEqual((await matches(sys, '1')).sort(), [a.id, b.id].sort());
    }
  });
  it('unknown criteria parameter → 400, nothing deleted', async () => {
    const sys = newSystem();
    const p = await fhir.create({ resourceType: 'Patient', body: patient(sys, '1') });
    assertOutcome(await send(srv, 'DELETE', `/fhir/Patient?${crit(sys, '1')}&no-such-param=x`), [400, 412]);
    assert.deepEqual(await matches(sys, '1'), [p.id]);
  });
  it('DELETE [type] without criteria is not a delete of everything', async () => {
    const p = await fhir.create({ resourceType: 'Patient', body: patient(newSystem(), '1') });
    const res = await send(srv, 'DELETE', '/fhir/Patient');
    assert.ok(res.status >= 400 && res.status < 500, `DELETE /Patient: ${res.status}`);
    assert.equal((await send(srv, 'GET', `/fhir/Patient/${p.id}`)).status, 200);
  });
});
