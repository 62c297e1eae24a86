// Search parameters end to end (FHIR R4 search.html): every parameter type
// with modifiers and prefixes on data created here, the common parameters,
// chains and _has, and the places search applies (GET [type], POST _search,
// GET [base]?_type, Patient compartment). Result shaping (paging, _sort,
// _include, _summary, strict/lenient) is in search-results.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, send, newId } from './lib/fhir.mjs';
import { idsOf, assertSearchset, sorted } from './lib/search.mjs';

let srv;
let fhir;
const FIX = 'http://bron.test/tags|search-fixture'; // every fixture resource carries this tag
const SYS_A = 'http://bron.test/mrn-a';
const SYS_B = 'http://bron.test/mrn-b';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const r = {}; // created fixture resources by key
let tStart; // an instant before any fixture was written

const tag = (code) => ({ system: 'http://bron.test/tags', code });
const fixtureMeta = (extra = {}) => ({ tag: [tag('search-fixture'), ...(extra.tag || [])], ...(extra.profile ? { profile: extra.profile } : {}), ...(extra.security ? { security: extra.security } : {}) });

async function create(key, body) {
  r[key] = await fhir.create({ resourceType: body.resourceType, body });
  return r[key];
}

/** Ids of the matches of a search through fhir-kit-client. */
async function ids(resourceType, searchParams, options) {
  const b = await fhir.search({ resourceType, searchParams, options });
  assertSearchset(b, srv.base);
  return idsOf(b);
}
const idsFor = (...keys) => sorted(keys.map((k) => r[k].id));
/** Patient fixture search: the conditions plus the fixture tag. */
const pat = (params) => ids('Patient', { ...params, _tag: FIX, _count: 100 });
const obs = (params) => ids('Observation', { ...params, _tag: FIX, _count: 100 });

before(async () => {
  srv = await startServer();
  fhir = client(srv);
  tStart = new Date(Date.now() - 1000).toISOString();
  await create('org', { resourceType: 'Organization', meta: fixtureMeta(), name: 'Ziekenhuis Zuid', identifier: [{ system: 'http://bron.test/org', value: 'Z1' }] });
  await create('p1', {
    resourceType: 'Patient',
    meta: fixtureMeta({ tag: [tag('alpha')], profile: ['http://bron.test/StructureDefinition/prof1'], security: [{ system: CONF, code: 'R' }] }),
    identifier: [{ system: SYS_A, value: '100' }],
    active: true,
    name: [{ family: 'Müller', given: ['Zoë'] }],
    gender: 'female',
    birthDate: '1980-05-17',
    address: [{ city: 'Den Haag' }],
  });
  await create('p2', {
    resourceType: 'Patient', meta: fixtureMeta({ tag: [tag('beta')] }),
    identifier: [{ system: SYS_A, value: '200' }], name: [{ family: 'Muller', given: ['Anna'] }], gender: 'male', birthDate: '1980-05',
  });
  await create('p3', {
    resourceType: 'Patient', meta: fixtureMeta(),
    identifier: [{ system: SYS_B, value: '100' }], active: false, name: [{ family: 'Mullerson', given: ['Bob'] }], birthDate: '1975',
  });
  await create('p4', {
    resourceType: 'Patient', meta: fixtureMeta(),
    identifier: [{ system: SYS_B, value: '400' }], name: [{ family: 'de Vries', given: ['Eva'] }], birthDate: '1990-12-31',
    managingOrganization: { reference: `Organization/${r.org.id}` },
  });
  await create('enc', { resourceType: 'Encounter', meta: fixtureMeta(), status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${r.p1.id}` } });
  const hr = { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }], text: 'Heart rate' };
  const wt = { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }], text: 'Body weight' };
  await create('o1', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'final', code: hr,
    subject: { reference: `Patient/${r.p1.id}` }, encounter: { reference: `Encounter/${r.enc.id}` },
    effectiveDateTime: '2020-01-15T10:00:00Z', valueQuantity: { value: 72, unit: '/min', system: UCUM, code: '/min' },
  });
  await create('o2', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'final', code: wt,
    subject: { reference: `${srv.base}/Patient/${r.p1.id}` }, // absolute reference to this server
    effectiveDateTime: '2020-03-01', valueQuantity: { value: 80, unit: 'kg', system: UCUM, code: 'kg' },
  });
  await create('o3', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'preliminary', code: wt,
    subject: { reference: `Patient/${r.p2.id}` },
    effectivePeriod: { start: '2020-03-01T08:00:00Z', end: '2020-03-02T08:00:00Z' }, valueQuantity: { value: 80000, unit: 'g', system: UCUM, code: 'g' },
  });
  await create('o4', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'final', code: hr,
    subject: { reference: `Patient/${r.p3.id}` }, effectiveDateTime: '2021-06', valueQuantity: { value: 100, unit: '/min', system: UCUM, code: '/min' },
  });
  await create('o5', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'final', code: hr,
    subject: { identifier: { system: SYS_A, value: '300' } }, valueQuantity: { value: 60.5, unit: '/min', system: UCUM, code: '/min' },
  });
  await create('o6', {
    resourceType: 'Observation', meta: fixtureMeta(), status: 'amended', code: wt,
    subject: { reference: `Patient/${r.p4.id}` }, effectiveDateTime: '2019-12-31T23:30:00+01:00', valueQuantity: { value: 61.25, unit: 'kg', system: UCUM, code: 'kg' },
  });
});
after(async () => { if (srv) await srv.stop(); });

describe('string parameters', () => {
  it('default match is case- and accent-insensitive and matches the start', async () => {
    assert.deepEqual(await pat({ name: 'muller' }), idsFor('p1', 'p2', 'p3'));
    assert.deepEqual(await pat({ family: 'MÜL' }), idsFor('p1', 'p2', 'p3'));
    assert.deepEqual(await pat({ given: 'zoe' }), idsFor('p1'));
    assert.deepEqual(await pat({ name: 'mullers' }), idsFor('p3'));
    assert.deepEqual(await pat({ 'address-city': 'den haag' }), idsFor('p1'));
    assert.deepEqual(await pat({ name: 'uller' }), [], 'a default string search matches the start, not the middle');
  });
  it(':exact is exact (case and accents count), :contains matches anywhere', async () => {
    assert.deepEqual(await pat({ 'family:exact': 'Müller' }), idsFor('p1'));
    assert.deepEqual(await pat({ 'family:exact': 'Muller' }), idsFor('p2'));
    assert.deepEqual(await pat({ 'family:exact': 'muller' }), []);
    assert.deepEqual(await pat({ 'family:exact': 'Mull' }), []);
    assert.deepEqual(await pat({ 'family:contains': 'LLERS' }), idsFor('p3'));
    assert.deepEqual(await pat({ 'name:contains': 'vri' }), idsFor('p4'));
  });
  it('OR by comma, AND by repetition', async () => {
    assert.deepEqual(await pat({ given: 'zoe,bob' }), idsFor('p1', 'p3'));
    assert.deepEqual(await pat({ name: ['muller', 'anna'] }), idsFor('p2'));
  });
  it(':missing', async () => {
    assert.deepEqual(await pat({ 'address-city:missing': 'false' }), idsFor('p1'));
    assert.deepEqual(await pat({ 'address-city:missing': 'true' }), idsFor('p2', 'p3', 'p4'));
  });
});

describe('token parameters', () => {
  it('system|code, |code, system|, code', async () => {
    assert.deepEqual(await pat({ identifier: `${SYS_A}|100` }), idsFor('p1'));
    assert.deepEqual(await pat({ identifier: '100' }), idsFor('p1', 'p3'));
    assert.deepEqual(await pat({ identifier: `${SYS_A}|` }), idsFor('p1', 'p2'));
    assert.deepEqual(await pat({ identifier: '|100' }), [], '|code matches only identifiers without a system');
    assert.deepEqual(await obs({ code: `${LOINC}|8867-4` }), idsFor('o1', 'o4', 'o5'));
    assert.deepEqual(await obs({ code: `http://snomed.info/sct|8867-4` }), []);
    assert.deepEqual(await obs({ code: `${LOINC}|8867-4,${LOINC}|29463-7`, status: 'amended,preliminary' }), idsFor('o3', 'o6'));
  });
  it('codes (gender, boolean) and :not includes resources without a value', async () => {
    assert.deepEqual(await pat({ gender: 'female' }), idsFor('p1'));
    assert.deepEqual(await pat({ active: 'true' }), idsFor('p1'));
    assert.deepEqual(await pat({ active: 'false' }), idsFor('p3'));
    assert.deepEqual(await pat({ 'gender:not': 'female' }), idsFor('p2', 'p3', 'p4'));
  });
  it(':text searches the text and display', async () => {
    assert.deepEqual(await obs({ 'code:text': 'body' }), idsFor('o2', 'o3', 'o6'));
  });
  it('_id, _tag, _profile, _security', async () => {
    assert.deepEqual(await ids('Patient', { _id: `${r.p1.id},${r.p3.id}` }), idsFor('p1', 'p3'));
    assert.deepEqual(await ids('Patient', { _tag: 'http://bron.test/tags|alpha' }), idsFor('p1'));
    assert.deepEqual(await ids('Patient', { _tag: 'beta' }), idsFor('p2'));
    assert.deepEqual(await ids('Patient', { _profile: 'http://bron.test/StructureDefinition/prof1' }), idsFor('p1'));
    assert.deepEqual(await ids('Patient', { _security: `${CONF}|R` }), idsFor('p1'));
    assert.deepEqual(await pat({ '_tag:not': 'http://bron.test/tags|alpha' }), idsFor('p2', 'p3', 'p4'));
  });
});

describe('date parameters: precision and prefixes (search.html#prefix)', () => {
  // birthDate: p1 1980-05-17, p2 1980-05, p3 1975, p4 1990-12-31
  it('eq (default): the parameter range contains the value range', async () => {
    assert.deepEqual(await pat({ birthdate: '1980' }), idsFor('p1', 'p2'));
    assert.deepEqual(await pat({ birthdate: '1980-05' }), idsFor('p1', 'p2'));
    assert.deepEqual(await pat({ birthdate: 'eq1980-05-17' }), idsFor('p1'));
    assert.deepEqual(await pat({ birthdate: '1975-06' }), [], 'a year value is not within a month');
  });
  it('ne, gt, lt, ge, le', async () => {
    assert.deepEqual(await pat({ birthdate: 'ne1980' }), idsFor('p3', 'p4'));
    assert.deepEqual(await pat({ birthdate: 'gt1980-05-16' }), idsFor('p1', 'p2', 'p4'));
    assert.deepEqual(await pat({ birthdate: 'gt1980-05-17' }), idsFor('p2', 'p4'));
    assert.deepEqual(await pat({ birthdate: 'lt1980-05-17' }), idsFor('p2', 'p3'));
    assert.deepEqual(await pat({ birthdate: 'ge1980-05-17' }), idsFor('p1', 'p2', 'p4'));
    assert.deepEqual(await pat({ birthdate: 'le1980-05' }), idsFor('p1', 'p2', 'p3'));
    assert.deepEqual(await pat({ birthdate: 'lt1975' }), []);
    assert.deepEqual(await pat({ birthdate: ['ge1980', 'lt1981'] }), idsFor('p1', 'p2'));
  });
  it('sa (starts after) and eb (ends before) need no overlap', async () => {
    assert.deepEqual(await pat({ birthdate: 'sa1980-05-17' }), idsFor('p4'));
    assert.deepEqual(await pat({ birthdate: 'sa1980-05-16' }), idsFor('p1', 'p4'), 'p2 (1980-05) overlaps 1980-05-16');
    assert.deepEqual(await pat({ birthdate: 'eb1980' }), idsFor('p3'));
    assert.deepEqual(await pat({ birthdate: 'eb1980-05-18' }), idsFor('p1', 'p3'));
  });
  it('ap includes the value itself', async () => {
    const got = await pat({ birthdate: 'ap1980-05-17' });
    assert.ok(got.includes(r.p1.id), 'ap1980-05-17 matches 1980-05-17');
    // 10% of the gap between now and 1980 is about 4.6 years: 1990-12-31 is far outside
    assert.ok(!got.includes(r.p4.id), 'ap1980-05-17 does not match 1990-12-31');
  });
  it('dateTime, Period and time zones', async () => {
    // o1 2020-01-15T10:00Z; o2 2020-03-01; o3 Period 2020-03-01T08:00Z..2020-03-02T08:00Z; o4 2021-06; o6 2019-12-31T23:30+01:00 (22:30Z)
    assert.deepEqual(await obs({ date: '2020-01-15T10:00:00Z' }), idsFor('o1'));
    assert.deepEqual(await obs({ date: 'gt2020-01-15T09:59:59Z', _id: r.o1.id }), idsFor('o1'));
    assert.deepEqual(await obs({ date: 'lt2020-01-15T10:00:00Z', _id: r.o1.id }), []);
    assert.deepEqual(await obs({ date: 'ge2020-03-02T00:00:00Z' }), idsFor('o3', 'o4'));
    assert.deepEqual(await obs({ date: 'eq2020-03' }), idsFor('o2', 'o3'));
    assert.deepEqual(await obs({ date: 'eq2021' }), idsFor('o4'));
    assert.deepEqual(await obs({ date: 'lt2019-12-31T23:00:00Z' }), idsFor('o6'), '23:30+01:00 is 22:30Z');
    assert.deepEqual(await obs({ date: 'gt2019-12-31T23:00:00Z', _id: r.o6.id }), []);
    assert.deepEqual(await obs({ date: 'eb2020-01-01' }), idsFor('o6'));
  });
  it('_lastUpdated', async () => {
    assert.deepEqual(await pat({ _lastUpdated: `gt${tStart}` }), idsFor('p1', 'p2', 'p3', 'p4'));
    assert.deepEqual(await pat({ _lastUpdated: `lt${tStart}` }), []);
    const future = new Date(Date.now() + 3600e3).toISOString();
    assert.deepEqual(await pat({ _lastUpdated: `ge${future}` }), []);
  });
});

describe('number and quantity parameters', () => {
  it('value-quantity with prefixes, system and code', async () => {
    assert.deepEqual(await obs({ 'value-quantity': '72' }), idsFor('o1'));
    assert.deepEqual(await obs({ 'value-quantity': `72|${UCUM}|/min` }), idsFor('o1'));
    assert.deepEqual(await obs({ 'value-quantity': `gt70|${UCUM}|/min` }), idsFor('o1', 'o4'));
    assert.deepEqual(await obs({ 'value-quantity': `le72|${UCUM}|/min` }), idsFor('o1', 'o5'));
    assert.deepEqual(await obs({ 'value-quantity': 'lt61||kg' }), []);
    assert.deepEqual(await obs({ 'value-quantity': 'ne72||/min' }), idsFor('o4', 'o5'));
  });
  it('implicit precision of the search value (search.html#number)', async () => {
    // 60.5 stands for [60.45, 60.55), 61 for [60.5, 61.5), 61.3 for [61.25, 61.35)
    assert.deepEqual(await obs({ 'value-quantity': '60.5' }), idsFor('o5'));
    assert.deepEqual(await obs({ 'value-quantity': '60.50' }), idsFor('o5'));
    assert.deepEqual(await obs({ 'value-quantity': '61' }), idsFor('o5', 'o6'));
    assert.deepEqual(await obs({ 'value-quantity': '61.3' }), idsFor('o6'));
    assert.deepEqual(await obs({ 'value-quantity': '61.26' }), []);
  });
  it('UCUM units compare canonically: 80000 g is 80 kg', async () => {
    assert.deepEqual(await obs({ 'value-quantity': `80|${UCUM}|kg` }), idsFor('o2', 'o3'));
    assert.deepEqual(await obs({ 'value-quantity': `gt79000|${UCUM}|g` }), idsFor('o2', 'o3'));
  });
  it('composite code-value-quantity', async () => {
    assert.deepEqual(await obs({ 'code-value-quantity': `${LOINC}|8867-4$gt80` }), idsFor('o4'));
    assert.deepEqual(await obs({ 'code-value-quantity': `${LOINC}|29463-7$lt70` }), idsFor('o6'));
    assert.deepEqual(await obs({ 'code-value-quantity': `${LOINC}|8867-4$lt70` }), idsFor('o5'));
    assert.deepEqual(await obs({ 'code-value-quantity': `${LOINC}|8867-4$gt200` }), []);
  });
});

describe('reference parameters', () => {
  it('Type/id, id, :Type, absolute URL', async () => {
    const p1 = r.p1.id;
    assert.deepEqual(await obs({ subject: `Patient/${p1}` }), idsFor('o1', 'o2'));
    assert.deepEqual(await obs({ subject: p1 }), idsFor('o1', 'o2'));
    assert.deepEqual(await obs({ 'subject:Patient': p1 }), idsFor('o1', 'o2'));
    assert.deepEqual(await obs({ patient: p1 }), idsFor('o1', 'o2'));
    // search.html#reference: a relative reference and an absolute URL on this server's base that
    // resolve to the same resource SHOULD match, both ways (o1 is relative, o2 absolute)
    assert.deepEqual(await obs({ subject: `${srv.base}/Patient/${p1}` }), idsFor('o1', 'o2'));
    assert.deepEqual(await obs({ 'subject:Group': p1 }), []);
    assert.deepEqual(await obs({ encounter: `Encounter/${r.enc.id}` }), idsFor('o1'));
  });
  it(':identifier matches Reference.identifier', async () => {
    assert.deepEqual(await obs({ 'subject:identifier': `${SYS_A}|300` }), idsFor('o5'));
  });
  it(':missing', async () => {
    assert.deepEqual(await obs({ 'encounter:missing': 'false' }), idsFor('o1'));
  });
  it('chained parameters', async () => {
    assert.deepEqual(await obs({ 'subject:Patient.name': 'muller' }), idsFor('o1', 'o2', 'o3', 'o4'));
    assert.deepEqual(await obs({ 'subject:Patient.gender': 'male' }), idsFor('o3'));
    assert.deepEqual(await obs({ 'patient.identifier': `${SYS_B}|100` }), idsFor('o4'));
    assert.deepEqual(await pat({ 'organization.name': 'ziekenhuis' }), idsFor('p4'));
    assert.deepEqual(await obs({ 'patient.organization.identifier': 'http://bron.test/org|Z1' }), idsFor('o6'), 'two-level chain');
  });
  it('_has (reverse chaining), nested', async () => {
    assert.deepEqual(await pat({ '_has:Observation:subject:code': `${LOINC}|29463-7` }), idsFor('p1', 'p2', 'p4'));
    assert.deepEqual(await pat({ '_has:Observation:patient:value-quantity': 'gt90||/min' }), idsFor('p3'));
    assert.deepEqual(await pat({ '_has:Encounter:subject:status': 'finished' }), idsFor('p1'));
    assert.deepEqual(await ids('Organization', { '_has:Patient:organization:_has:Observation:patient:status': 'amended' }), idsFor('org'));
  });
});

describe('where search applies', () => {
  it('POST [type]/_search with a form body gives the same result as GET', async () => {
    const params = { name: 'muller', _tag: FIX };
    const viaGet = await ids('Patient', params);
    const viaPost = await ids('Patient', params, { postSearch: true });
    assert.deepEqual(viaPost, viaGet);
    assert.deepEqual(viaPost, idsFor('p1', 'p2', 'p3'));
    // parameters in both the URL and the body are combined
    const res = await send(srv, 'POST', `/fhir/Patient/_search?gender=female`, `family=m%C3%BCl&_tag=${encodeURIComponent(FIX)}`, { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.deepEqual(idsOf(res.json), idsFor('p1'));
  });
  it('POST _search with another content type is refused', async () => {
    const res = await send(srv, 'POST', '/fhir/Patient/_search', '{"name":"x"}', { 'content-type': 'application/fhir+json' });
    assert.ok(res.status === 415 || res.status === 400, `got ${res.status}`);
  });
  it('GET [base]?_type=... searches several types', async () => {
    const res = await send(srv, 'GET', `/fhir?_type=Patient,Organization&_tag=${encodeURIComponent(FIX)}&_count=100`);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assertSearchset(res.json, srv.base);
    const got = res.json.entry.filter((e) => e.search.mode === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    const want = ['p1', 'p2', 'p3', 'p4'].map((k) => `Patient/${r[k].id}`).concat(`Organization/${r.org.id}`).sort();
    assert.deepEqual(got, want);
    // through the client (GET [base]/?...)
    const b = await fhir.search({ searchParams: { _type: 'Observation', _tag: FIX, code: `${LOINC}|29463-7` } });
    assert.deepEqual(idsOf(b), idsFor('o2', 'o3', 'o6'));
  });
  it('POST [base]/_search (system search with a form body)', async () => {
    const viaPost = await fhir.search({ searchParams: { _type: 'Observation', _tag: FIX, code: `${LOINC}|29463-7` }, options: { postSearch: true } });
    assert.deepEqual(idsOf(viaPost), idsFor('o2', 'o3', 'o6'), 'POST [base]/_search');
  });
  it('GET Patient/[id]/* searches every type in the compartment', async () => {
    const res = await send(srv, 'GET', `/fhir/Patient/${r.p1.id}/*?_count=100`);
    assert.equal(res.status, 200, `${res.status} ${res.text.slice(0, 200)}`);
    const got = (res.json.entry || []).filter((e) => e.search.mode === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    for (const k of ['o1', 'enc']) assert.ok(got.includes(`${r[k].resourceType}/${r[k].id}`), `${k} is in the compartment`);
    assert.ok(!got.includes(`Observation/${r.o3.id}`), 'another patient\'s Observation');
  });
  it('POST Patient/[id]/Observation/_search', async () => {
    const b = await fhir.search({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: r.p1.id }, searchParams: { code: `${LOINC}|8867-4` }, options: { postSearch: true } });
    assert.deepEqual(idsOf(b), idsFor('o1'));
  });
  it('Patient/[id]/Observation compartment search', async () => {
    const b = await fhir.search({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: r.p1.id } });
    assertSearchset(b, srv.base);
    assert.deepEqual(idsOf(b), idsFor('o1', 'o2'), 'o2 refers to the patient by an absolute URL on this server (subject=Patient/id finds it)');
    const b2 = await fhir.search({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: r.p1.id }, searchParams: { code: `${LOINC}|8867-4` } });
    assert.deepEqual(idsOf(b2), idsFor('o1'));
    const b3 = await fhir.search({ resourceType: 'Encounter', compartment: { resourceType: 'Patient', id: r.p1.id } });
    assert.deepEqual(idsOf(b3), idsFor('enc'));
    const none = await fhir.search({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: 'no-such-patient' } });
    assert.deepEqual(idsOf(none), []);
  });
});

describe('search sees the current state only', () => {
  it('deleted resources never appear; updated resources match on their new values only', async () => {
    const fam = `Zed${newId('').replace(/[^a-z0-9]/gi, '')}`;
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: fam }], gender: 'female' } });
    assert.deepEqual(await ids('Patient', { family: fam }), [p.id]);
    await fhir.update({ resourceType: 'Patient', id: p.id, body: { resourceType: 'Patient', id: p.id, name: [{ family: `${fam}x` }], gender: 'male' } });
    assert.deepEqual(await ids('Patient', { 'family:exact': fam }), [], 'old value still indexed');
    assert.deepEqual(await ids('Patient', { family: fam, gender: 'female' }), [], 'old gender still indexed');
    assert.deepEqual(await ids('Patient', { 'family:exact': `${fam}x`, gender: 'male' }), [p.id]);
    await fhir.delete({ resourceType: 'Patient', id: p.id });
    assert.deepEqual(await ids('Patient', { family: fam }), []);
    assert.deepEqual(await ids('Patient', { _id: p.id }), []);
    const sys = await send(srv, 'GET', `/fhir?_type=Patient&_id=${p.id}`);
    assert.deepEqual(idsOf(sys.json), []);
    // recreated by update after delete: found again, under its new values
    await fhir.update({ resourceType: 'Patient', id: p.id, body: { resourceType: 'Patient', id: p.id, name: [{ family: `${fam}y` }] } });
    assert.deepEqual(await ids('Patient', { family: fam }), [p.id]);
    assert.deepEqual(await ids('Patient', { gender: 'male', _id: p.id }), []);
  });
  it('chains and _has do not go through deleted resources', async () => {
    const fam = `Chain${newId('').replace(/[^a-z0-9]/gi, '')}`;
    const code = `http://bron.test/codes|${fam}`;
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: fam }] } });
    const o = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://bron.test/codes', code: fam }] }, subject: { reference: `Patient/${p.id}` } } });
    assert.deepEqual(await ids('Observation', { 'subject:Patient.family': fam }), [o.id]);
    assert.deepEqual(await ids('Patient', { '_has:Observation:subject:code': code }), [p.id]);
    await fhir.delete({ resourceType: 'Observation', id: o.id });
    assert.deepEqual(await ids('Patient', { '_has:Observation:subject:code': code }), [], '_has through a deleted Observation');
    const o2 = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://bron.test/codes', code: fam }] }, subject: { reference: `Patient/${p.id}` } } });
    await fhir.delete({ resourceType: 'Patient', id: p.id });
    assert.deepEqual(await ids('Observation', { 'subject:Patient.family': fam }), [], 'chain through a deleted Patient');
    assert.deepEqual(await ids('Observation', { code }), [o2.id]);
  });
  it('resources written by PATCH and by a transaction are searchable on their new values', async () => {
    const fam = `Patch${newId('').replace(/[^a-z0-9]/gi, '')}`;
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: fam }], gender: 'male' } });
    await fhir.patch({ resourceType: 'Patient', id: p.id, jsonPatch: [{ op: 'replace', path: '/gender', value: 'female' }] });
    assert.deepEqual(await ids('Patient', { family: fam, gender: 'female' }), [p.id]);
    assert.deepEqual(await ids('Patient', { family: fam, gender: 'male' }), []);
    const resp = await fhir.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: { resourceType: 'Patient', id: p.id, name: [{ family: `${fam}T` }], gender: 'other' }, request: { method: 'PUT', url: `Patient/${p.id}` } },
    ] } });
    assert.equal(resp.type, 'transaction-response');
    assert.deepEqual(await ids('Patient', { 'family:exact': `${fam}T`, gender: 'other' }), [p.id]);
    assert.deepEqual(await ids('Patient', { 'family:exact': fam }), []);
  });
});
