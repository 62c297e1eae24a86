// Search result shaping end to end (FHIR R4 search.html): the searchset
// Bundle, _count and paging links, _total, _sort, _include/_revinclude
// (with :iterate and *), _summary, _elements, and unknown or malformed
// parameters under Prefer: handling=strict and lenient.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, send, assertOutcome, allPages, FHIR_JSON } from './lib/fhir.mjs';
import { idsOf, refsOf, entriesOf, outcomesOf, assertSearchset, sorted } from './lib/search.mjs';

let srv;
let fhir;
const TAGS = 'http://bron.test/tags';
const r = {};
const tag = (code) => ({ tag: [{ system: TAGS, code }] });
const get = (path, headers) => send(srv, 'GET', path, undefined, headers);

async function create(key, body) {
  r[key] = await fhir.create({ resourceType: body.resourceType, body });
  return r[key];
}

before(async () => {
  srv = await startServer();
  fhir = client(srv);
  // paging: 23 patients
  for (let i = 0; i < 23; i++) {
    await create(`page${i}`, { resourceType: 'Patient', meta: tag('page'), name: [{ family: `Page${String(i).padStart(2, '0')}` }] });
  }
  // sorting
  const people = [['A', 'Adams', 'female', '1990-01-01'], ['B', 'Baker', 'male', '1985-06-15'], ['C', 'Clark', 'female', '1970-03-03'],
    ['D', 'Davis', 'male', '1999-09-09'], ['E', 'Evans', 'female', '1985-06-15']];
  for (const [k, family, gender, birthDate] of people) {
    await create(k, { resourceType: 'Patient', meta: tag('sort'), name: [{ family }], gender, birthDate });
  }
  // include graph: obs1 -> pat -> org, obs1 -> enc -> pat; obs2 -> pat
  await create('org', { resourceType: 'Organization', meta: tag('inc'), name: 'Include Org' });
  await create('pat', {
    resourceType: 'Patient', meta: tag('inc'), name: [{ family: 'Included', given: ['Ina'] }], gender: 'female', birthDate: '1960-02-02',
    managingOrganization: { reference: `Organization/${r.org.id}` },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ina Included</div>' },
    maritalStatus: { text: 'married' }, contact: [{ name: { family: 'Contact' } }], communication: [{ language: { text: 'Dutch' } }],
  });
  await create('enc', { resourceType: 'Encounter', meta: tag('inc'), status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${r.pat.id}` } });
  await create('obs1', { resourceType: 'Observation', meta: tag('inc'), status: 'final', code: { text: 'one' }, subject: { reference: `Patient/${r.pat.id}` }, encounter: { reference: `Encounter/${r.enc.id}` }, valueString: 'x' });
  await create('obs2', { resourceType: 'Observation', meta: tag('inc'), status: 'final', code: { text: 'two' }, subject: { reference: `Patient/${r.pat.id}` } });
});
after(async () => { if (srv) await srv.stop(); });

const idsFor = (...keys) => sorted(keys.map((k) => r[k].id));
const refFor = (k) => `${r[k].resourceType}/${r[k].id}`;
const refsFor = (...keys) => sorted(keys.map(refFor));

describe('searchset Bundle', () => {
  it('type searchset, absolute self link, fullUrl and search.mode per entry, total with _total=accurate', async () => {
    const res = await get(`/fhir/Patient?_tag=${TAGS}|sort&_total=accurate`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/fhir\+json/);
    const b = res.json;
    assertSearchset(b, srv.base);
    assert.equal(b.total, 5);
    assert.equal(entriesOf(b).length, 5);
    const self = b.link.find((l) => l.relation === 'self');
    assert.ok(self.url.startsWith(`${srv.base}/Patient?`), `self link ${self.url} is an absolute URL of this search`);
    assert.ok(!b.link.some((l) => l.relation === 'next'), 'no next link when everything fits');
  });
  it('an empty result is a Bundle with no entries and total 0', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { family: 'no-such-family-xyz', _total: 'accurate' } });
    assertSearchset(b, srv.base);
    assert.equal(b.total, 0);
    assert.equal(entriesOf(b).length, 0);
  });
});

describe('_count and paging', () => {
  it('next links page through all results exactly once', async () => {
    const { pages, entries } = await allPages(srv, `/fhir/Patient?_tag=${TAGS}|page&_count=5&_total=accurate`, { type: 'searchset', count: 5 });
    assert.equal(pages.length, 5, '23 results in pages of 5');
    for (const p of pages.slice(0, 4)) assert.equal(p.entry.length, 5);
    const got = entries.map((e) => e.resource.id);
    assert.equal(new Set(got).size, got.length, 'an entry appears on two pages');
    assert.deepEqual(sorted(got), idsFor(...Array.from({ length: 23 }, (_, i) => `page${i}`)));
    for (const p of pages) if (p.total !== undefined) assert.equal(p.total, 23, 'total is the whole result on every page');
  });
  it('fhir-kit-client nextPage follows the links', async () => {
    let b = await fhir.search({ resourceType: 'Patient', searchParams: { _tag: `${TAGS}|page`, _count: 10 } });
    const seen = [];
    for (let i = 0; b && i < 10; i++) {
      seen.push(...idsOf(b));
      b = await fhir.nextPage({ bundle: b });
    }
    assert.equal(seen.length, 23);
    assert.equal(new Set(seen).size, 23);
  });
  it('paging with _sort keeps the order across pages', async () => {
    const { entries } = await allPages(srv, `/fhir/Patient?_tag=${TAGS}|sort&_sort=family&_count=2`, { type: 'searchset', count: 2 });
    assert.deepEqual(entries.map((e) => e.resource.name[0].family), ['Adams', 'Baker', 'Clark', 'Davis', 'Evans']);
  });
  it('paging links survive concurrent writes: every original result exactly once', async () => {
    const first = await get(`/fhir/Patient?_tag=${TAGS}|page&_count=4`);
    assert.equal(first.status, 200);
    const seen = idsOf(first.json);
    // writes between pages: new matches, and an update of one not yet returned (moves its lastUpdated)
    const pending = idsFor(...Array.from({ length: 23 }, (_, i) => `page${i}`)).filter((id) => !seen.includes(id));
    const moved = pending[pending.length - 1];
    const cur = await fhir.read({ resourceType: 'Patient', id: moved });
    await fhir.update({ resourceType: 'Patient', id: moved, body: { ...cur, active: true } });
    const extra = [];
    for (let i = 0; i < 3; i++) extra.push((await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', meta: tag('page'), name: [{ family: `Late${i}` }] } })).id);
    let next = first.json.link.find((l) => l.relation === 'next');
    const rest = [];
    while (next) {
      const u = new URL(next.url);
      const res = await get(u.pathname + u.search);
      assert.equal(res.status, 200, res.text.slice(0, 300));
      rest.push(...entriesOf(res.json).map((e) => e.resource.id));
      next = (res.json.link || []).find((l) => l.relation === 'next');
    }
    const all = [...seen, ...rest];
    const originals = all.filter((id) => !extra.includes(id));
    assert.equal(new Set(originals).size, originals.length, 'an original result appeared twice');
    assert.deepEqual(sorted(originals), idsFor(...Array.from({ length: 23 }, (_, i) => `page${i}`)), 'an original result was skipped');
    for (const id of extra) await fhir.delete({ resourceType: 'Patient', id });
  });
});

describe('_sort', () => {
  const families = async (sort) => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _tag: `${TAGS}|sort`, _sort: sort } });
    return entriesOf(b).map((e) => e.resource.name[0].family);
  };
  it('ascending and descending on one key', async () => {
    assert.deepEqual(await families('family'), ['Adams', 'Baker', 'Clark', 'Davis', 'Evans']);
    assert.deepEqual(await families('-family'), ['Evans', 'Davis', 'Clark', 'Baker', 'Adams']);
    assert.deepEqual(await families('-birthdate').then((f) => f[0]), 'Davis');
  });
  it('several keys', async () => {
    assert.deepEqual(await families('gender,-birthdate'), ['Adams', 'Evans', 'Clark', 'Davis', 'Baker']);
    assert.deepEqual(await families('birthdate,family'), ['Clark', 'Baker', 'Evans', 'Adams', 'Davis']);
    assert.deepEqual(await families('-birthdate,-family'), ['Davis', 'Adams', 'Evans', 'Baker', 'Clark']);
  });
});

describe('_include and _revinclude', () => {
  const search = async (path) => {
    const res = await get(path);
    assert.equal(res.status, 200, `${path}: ${res.status} ${res.text.slice(0, 300)}`);
    assertSearchset(res.json, srv.base);
    return res.json;
  };
  it('_include adds the referenced resources with mode include, once each', async () => {
    const b = await search(`/fhir/Observation?subject=Patient/${r.pat.id}&_include=Observation:subject&_total=accurate`);
    assert.deepEqual(refsOf(b), refsFor('obs1', 'obs2'));
    assert.deepEqual(refsOf(b, 'include'), refsFor('pat'));
    assert.equal(b.total, 2, 'total counts matches only');
  });
  it('_include without :iterate does not follow included resources; :iterate does', async () => {
    const plain = await search(`/fhir/Observation?_id=${r.obs1.id}&_include=Observation:subject&_include=Patient:organization`);
    assert.deepEqual(refsOf(plain, 'include'), refsFor('pat'));
    const it2 = await search(`/fhir/Observation?_id=${r.obs1.id}&_include=Observation:subject&_include:iterate=Patient:organization`);
    assert.deepEqual(refsOf(it2, 'include'), refsFor('org', 'pat'));
  });
  it('_include=* and typed _include (Observation:subject:Patient)', async () => {
    const all = await search(`/fhir/Observation?_id=${r.obs1.id}&_include=*`);
    assert.deepEqual(refsOf(all, 'include'), refsFor('enc', 'pat'));
    const typed = await search(`/fhir/Observation?_id=${r.obs1.id}&_include=Observation:subject:Patient`);
    assert.deepEqual(refsOf(typed, 'include'), refsFor('pat'));
    const wrongType = await search(`/fhir/Observation?_id=${r.obs1.id}&_include=Observation:subject:Group`);
    assert.deepEqual(refsOf(wrongType, 'include'), []);
  });
  it('_revinclude, and _revinclude:iterate', async () => {
    const b = await search(`/fhir/Patient?_id=${r.pat.id}&_revinclude=Observation:subject`);
    assert.deepEqual(refsOf(b), refsFor('pat'));
    assert.deepEqual(refsOf(b, 'include'), refsFor('obs1', 'obs2'));
    const it2 = await search(`/fhir/Organization?_id=${r.org.id}&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject`);
    assert.deepEqual(refsOf(it2), refsFor('org'));
    assert.deepEqual(refsOf(it2, 'include'), refsFor('obs1', 'obs2', 'pat'));
    const mixed = await search(`/fhir/Encounter?_id=${r.enc.id}&_revinclude=Observation:encounter&_include=Encounter:subject`);
    assert.deepEqual(refsOf(mixed, 'include'), refsFor('obs1', 'pat'));
  });
  it('a resource is not both a match and an include', async () => {
    const b = await search(`/fhir?_type=Patient,Observation&_tag=${TAGS}|inc&_include=Observation:subject`);
    assert.deepEqual(refsOf(b), refsFor('obs1', 'obs2', 'pat'));
    const all = (b.entry || []).filter((e) => e.search.mode !== 'outcome').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    assert.equal(new Set(all).size, all.length, `duplicate entries: ${all}`);
  });
  it('deleted resources are not included', async () => {
    const p = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Gone' }] } });
    const o = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'final', code: { text: 'g' }, subject: { reference: `Patient/${p.id}` } } });
    await fhir.delete({ resourceType: 'Patient', id: p.id });
    const b = await search(`/fhir/Observation?_id=${o.id}&_include=Observation:subject`);
    assert.deepEqual(refsOf(b), [`Observation/${o.id}`]);
    assert.deepEqual(refsOf(b, 'include'), []);
    const rev = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Stays' }] } });
    const o2 = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'final', code: { text: 'g' }, subject: { reference: `Patient/${rev.id}` } } });
    await fhir.delete({ resourceType: 'Observation', id: o2.id });
    const b2 = await search(`/fhir/Patient?_id=${rev.id}&_revinclude=Observation:subject`);
    assert.deepEqual(refsOf(b2, 'include'), []);
  });
});

describe('_summary and _elements', () => {
  const SUBSETTED = (res) => ((res.meta && res.meta.tag) || []).some((t) => t.code === 'SUBSETTED');
  it('_summary=count: total and no entries', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _tag: `${TAGS}|sort`, _summary: 'count' } });
    assert.equal(b.type, 'searchset');
    assert.equal(b.total, 5);
    assert.equal(entriesOf(b).length, 0);
  });
  it('_summary=true: only summary elements, marked SUBSETTED', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _id: r.pat.id, _summary: 'true' } });
    const p = entriesOf(b)[0].resource;
    assert.equal(p.id, r.pat.id);
    assert.deepEqual(p.name, [{ family: 'Included', given: ['Ina'] }]);
    assert.equal(p.birthDate, '1960-02-02');
    assert.ok(p.managingOrganization, 'managingOrganization is a summary element');
    for (const k of ['maritalStatus', 'contact', 'communication', 'text']) assert.equal(p[k], undefined, `${k} is not a summary element`);
    assert.ok(SUBSETTED(p), 'a summarised resource carries the SUBSETTED tag');
  });
  it('_summary=text: text, id, meta and mandatory elements only', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _id: r.pat.id, _summary: 'text' } });
    const p = entriesOf(b)[0].resource;
    assert.equal(p.text.status, 'generated');
    for (const k of ['name', 'birthDate', 'maritalStatus', 'contact']) assert.equal(p[k], undefined, `${k} with _summary=text`);
    const o = entriesOf(await fhir.search({ resourceType: 'Observation', searchParams: { _id: r.obs1.id, _summary: 'text' } }))[0].resource;
    assert.equal(o.status, 'final', 'mandatory elements stay');
    assert.equal(o.valueString, undefined);
  });
  it('_summary=data: everything but the text', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _id: r.pat.id, _summary: 'data' } });
    const p = entriesOf(b)[0].resource;
    assert.equal(p.text, undefined);
    assert.deepEqual(p.maritalStatus, { text: 'married' });
    assert.ok(p.contact && p.communication && p.name);
  });
  it('_summary=false: the whole resource', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _id: r.pat.id, _summary: 'false' } });
    assert.deepEqual(entriesOf(b)[0].resource, await fhir.read({ resourceType: 'Patient', id: r.pat.id }));
  });
  it('_elements: the listed elements (plus id, meta, mandatory ones), marked SUBSETTED; includes are not cut', async () => {
    const b = await fhir.search({ resourceType: 'Patient', searchParams: { _id: r.pat.id, _elements: 'name,birthDate' } });
    const p = entriesOf(b)[0].resource;
    assert.equal(p.resourceType, 'Patient');
    assert.equal(p.id, r.pat.id);
    assert.deepEqual(p.name, [{ family: 'Included', given: ['Ina'] }]);
    assert.equal(p.birthDate, '1960-02-02');
    for (const k of ['gender', 'maritalStatus', 'contact', 'text', 'managingOrganization']) assert.equal(p[k], undefined, `${k} not requested`);
    assert.ok(SUBSETTED(p), 'an _elements result carries the SUBSETTED tag');
    const o = await fhir.search({ resourceType: 'Observation', searchParams: { _id: r.obs1.id, _elements: 'code', _include: 'Observation:subject' } });
    const m = entriesOf(o)[0].resource;
    assert.deepEqual(m.code, { text: 'one' });
    assert.equal(m.valueString, undefined);
    assert.equal(m.subject, undefined);
    const inc = entriesOf(o, 'include')[0].resource;
    assert.equal(inc.gender, 'female', 'included resources are not subject to _elements');
  });
});

describe('unknown and malformed parameters: strict and lenient', () => {
  const strict = { prefer: 'handling=strict' };
  it('unknown parameter: default lenient ignores it and says so in an outcome entry', async () => {
    const res = await get(`/fhir/Patient?_tag=${TAGS}|sort&no-such-param=1`);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assertSearchset(res.json, srv.base);
    assert.deepEqual(idsOf(res.json), idsFor('A', 'B', 'C', 'D', 'E'));
    const oo = outcomesOf(res.json);
    assert.equal(oo.length, 1, 'one OperationOutcome entry with search.mode outcome');
    assert.ok(JSON.stringify(oo[0]).includes('no-such-param'), 'the outcome names the ignored parameter');
    const self = res.json.link.find((l) => l.relation === 'self').url;
    assert.ok(!self.includes('no-such-param'), `self link ${self} should show the parameters used, not the ignored one`);
    const lenient = await get(`/fhir/Patient?_tag=${TAGS}|sort&no-such-param=1`, { prefer: 'handling=lenient' });
    assert.equal(lenient.status, 200);
    assert.deepEqual(idsOf(lenient.json), idsFor('A', 'B', 'C', 'D', 'E'));
  });
  it('Prefer: handling=strict: unknown parameter, modifier, _sort or _include key → 400 OperationOutcome', async () => {
    for (const q of ['no-such-param=1', 'name:nosuchmodifier=x', '_sort=nosuchparam', '_include=Patient:nosuchparam', 'gender:exact=male']) {
      assertOutcome(await get(`/fhir/Patient?${q}`, strict), 400, q);
    }
  });
  it('malformed values → 400 under strict, and never silently widen the result by default', async () => {
    const bad = ['birthdate=2007-13-41', 'birthdate=xx1980', '_lastUpdated=yesterday', '_count=abc', '_count=-1', '_summary=everything', '_total=maybe'];
    for (const q of bad) {
      assertOutcome(await get(`/fhir/Patient?${q}`, strict), 400, `strict ${q}`);
      const res = await get(`/fhir/Patient?_tag=${TAGS}|sort&${q}`);
      if (res.status === 200) {
        assert.equal(outcomesOf(res.json).length, 1, `lenient ${q}: a malformed parameter that is ignored must be reported in an outcome entry`);
      } else {
        assertOutcome(res, 400, `lenient ${q}`);
      }
    }
    const obsBad = ['value-quantity=abc', 'value-quantity=gt|x|y|z', 'date=2020-02-30', 'code-value-quantity=nodollar'];
    for (const q of obsBad) assertOutcome(await get(`/fhir/Observation?${q}`, strict), 400, `strict ${q}`);
  });
  it('an unknown type or a search on the base without _type', async () => {
    assertOutcome(await get('/fhir/NoSuchType?name=x'), 404);
    assertOutcome(await get('/fhir?_type=NoSuchType', strict), [400, 404]);
  });
  it('Accept and _format: XML is refused with 406', async () => {
    const res = await get('/fhir/Patient?_count=1', { accept: 'application/fhir+xml' });
    assert.equal(res.status, 406);
  });
});

describe('content negotiation of searches', () => {
  it('_pretty=true still gives the same Bundle', async () => {
    const a = await get(`/fhir/Patient?_tag=${TAGS}|sort&_sort=family`, { accept: FHIR_JSON });
    const b = await get(`/fhir/Patient?_tag=${TAGS}|sort&_sort=family&_pretty=true`, { accept: FHIR_JSON });
    assert.ok(b.text.includes('\n'), 'pretty output is indented');
    assert.deepEqual(b.json.entry.map((e) => e.resource.id), a.json.entry.map((e) => e.resource.id));
  });
});
