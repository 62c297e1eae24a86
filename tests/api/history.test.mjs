// The history interaction at instance, type and system level (FHIR R4
// http.html#history): Bundles of type "history", newest first, including
// deletes, with request/response on every entry, paging through "next" links
// with _count, and the _since and _at filters.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep } from './lib/server.mjs';
import {
  INSTANT_RE, client, etagVersion, assertOutcome, allPages, send, newId,
} from './lib/fhir.mjs';

let srv;
let fhir;

before(async () => {
  srv = await startServer();
  fhir = client(srv);
});
after(async () => { if (srv) await srv.stop(); });

const versionOf = (entry) => etagVersion(entry.response.etag);
const key = (entry) => `${entry.resource ? entry.resource.resourceType : entry.request.url.split('/')[0]}/${entry.request.url.split('/')[1] || entry.resource.id}/${versionOf(entry)}`;

/** Every entry a well-formed history entry (bundle.html bdl-3/bdl-4, http.html#history). */
function checkEntry(entry) {
  assert.ok(entry.request, 'history entry without request');
  assert.ok(entry.response, 'history entry without response');
  assert.ok(['POST', 'PUT', 'DELETE', 'PATCH'].includes(entry.request.method), `request.method ${entry.request.method}`);
  assert.equal(typeof entry.request.url, 'string');
  assert.match(entry.response.status || '', /^[0-9]{3}( |$)/, `response.status ${entry.response.status}`);
  const v = versionOf(entry);
  assert.match(entry.response.lastModified || '', INSTANT_RE, `response.lastModified ${entry.response.lastModified}`);
  if (entry.request.method === 'DELETE') {
    assert.equal(entry.resource, undefined, 'a delete entry has no resource');
    assert.match(entry.request.url, /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/, `DELETE request.url ${entry.request.url}`);
  } else {
    assert.ok(entry.resource, `a ${entry.request.method} entry SHALL contain the resource`);
    const r = entry.resource;
    assert.equal(r.meta.versionId, v, 'resource meta.versionId matches response.etag');
    assert.equal(Date.parse(r.meta.lastUpdated), Date.parse(entry.response.lastModified), 'resource meta.lastUpdated and response.lastModified are the same instant');
    if (entry.request.method === 'POST') {
      assert.equal(entry.request.url, r.resourceType, 'a create is recorded as POST [type]');
      assert.match(entry.response.status, /^201/);
    } else {
      assert.equal(entry.request.url, `${r.resourceType}/${r.id}`, 'an update is recorded as PUT [type]/[id]');
    }
    assert.ok(entry.fullUrl, 'entry with a resource needs fullUrl');
    assert.equal(entry.fullUrl, `${srv.base}/${r.resourceType}/${r.id}`, 'fullUrl is [base]/[type]/[id]');
  }
}

function checkNewestFirst(entries) {
  for (let i = 1; i < entries.length; i++) {
    const a = Date.parse(entries[i - 1].response.lastModified);
    const b = Date.parse(entries[i].response.lastModified);
    assert.ok(a >= b, `history must be newest first: entry ${i - 1} (${entries[i - 1].response.lastModified}) before entry ${i} (${entries[i].response.lastModified})`);
  }
}

async function getHistory(path) {
  const res = await send(srv, 'GET', path);
  assert.equal(res.status, 200, `GET ${path}: ${res.status} ${res.text.slice(0, 300)}`);
  assert.equal(res.json.resourceType, 'Bundle');
  assert.equal(res.json.type, 'history');
  return res.json;
}

describe('instance history', () => {
  let id;
  const versions = {};

  before(async () => {
    const v1 = await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'female' } });
    id = v1.id;
    versions[1] = v1;
    versions[2] = await fhir.update({ resourceType: 'Patient', id, body: { ...v1, gender: 'male' } });
    versions[3] = await fhir.update({ resourceType: 'Patient', id, body: { ...v1, gender: 'other' } });
    await fhir.delete({ resourceType: 'Patient', id });
    const revived = await send(srv, 'PUT', `/fhir/Patient/${id}`, { resourceType: 'Patient', id, gender: 'unknown' });
    assert.ok([200, 201].includes(revived.status), `revive: ${revived.status}`);
    versions.last = revived.json;
  });

  it('is a Bundle of type history with every version, deletes included, newest first', async () => {
    const b = await getHistory(`/fhir/Patient/${id}/_history`);
    const entries = b.entry || [];
    assert.equal(entries.length, 5);
    if (b.total !== undefined) assert.equal(b.total, 5, 'Bundle.total');
    entries.forEach(checkEntry);
    checkNewestFirst(entries);
    assert.deepEqual(entries.map((e) => e.request.method), ['PUT', 'DELETE', 'PUT', 'PUT', 'POST']);
    assert.deepEqual(entries[0].resource, versions.last);
    assert.deepEqual(entries[2].resource, versions[3]);
    assert.deepEqual(entries[3].resource, versions[2]);
    assert.deepEqual(entries[4].resource, versions[1]);
    assert.equal(entries[1].request.url, `Patient/${id}`);
    const vs = entries.map(versionOf);
    assert.equal(new Set(vs).size, 5, `version ids are unique: ${vs}`);
  });

  it('is what fhir-kit-client history() returns, and every listed version can be vread', async () => {
    const b = await fhir.history({ resourceType: 'Patient', id });
    assert.equal(b.type, 'history');
    for (const e of b.entry) {
      const v = versionOf(e);
      if (e.resource) {
        const r = await fhir.vread({ resourceType: 'Patient', id, version: v });
        assert.deepEqual(r, e.resource);
      } else {
        assert.equal((await send(srv, 'GET', `/fhir/Patient/${id}/_history/${v}`)).status, 410);
      }
    }
  });

  it('of an id that never existed gives 404 (or an empty history)', async () => {
    const res = await send(srv, 'GET', `/fhir/Patient/${newId('nobody')}/_history`);
    if (res.status === 200) {
      assert.equal(res.json.type, 'history');
      assert.equal((res.json.entry || []).length, 0);
    } else {
      assertOutcome(res, 404);
    }
  });

  it('pages with _count: following next links visits each version exactly once, newest first', async () => {
    const pid = (await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } })).id;
    for (let i = 0; i < 11; i++) {
      await fhir.update({ resourceType: 'Patient', id: pid, body: { resourceType: 'Patient', id: pid, active: i % 2 === 0, birthDate: `19${50 + i}` } });
    }
    const { pages, entries } = await allPages(srv, `/fhir/Patient/${pid}/_history?_count=5`, { count: 5 });
    assert.ok(pages.length >= 3, `12 versions with _count=5 need at least 3 pages, got ${pages.length}`);
    assert.deepEqual(entries.map(versionOf), ['12', '11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1']);
    entries.forEach(checkEntry);
    for (const p of pages) if (p.total !== undefined) assert.equal(p.total, 12);

    // the same walk as an application does it, with fhir-kit-client nextPage()
    let page = await fhir.request(`Patient/${pid}/_history?_count=4`);
    const seen = [];
    while (page) {
      seen.push(...(page.entry || []).map(versionOf));
      page = await fhir.nextPage({ bundle: page });
    }
    assert.deepEqual(seen, ['12', '11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1']);
  });
});

describe('type and system history', () => {
  const made = []; // keys of every version written in this block
  before(async () => {
    for (let i = 0; i < 4; i++) {
      const o = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'preliminary', code: { text: `obs ${i}` } } });
      made.push(`Observation/${o.id}/1`);
      if (i % 2 === 0) {
        const u = await fhir.update({ resourceType: 'Observation', id: o.id, body: { ...o, status: 'final' } });
        made.push(`Observation/${o.id}/${u.meta.versionId}`);
      }
    }
    const e = await fhir.create({ resourceType: 'Encounter', body: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' } } });
    made.push(`Encounter/${e.id}/1`);
    await fhir.delete({ resourceType: 'Encounter', id: e.id });
    const hist = await fhir.history({ resourceType: 'Encounter', id: e.id });
    made.push(`Encounter/${e.id}/${versionOf(hist.entry[0])}`);
  });

  it('type history lists every version of that type only, newest first', async () => {
    const b = await getHistory('/fhir/Observation/_history');
    const entries = b.entry || [];
    entries.forEach(checkEntry);
    checkNewestFirst(entries);
    const keys = entries.map(key);
    assert.deepEqual([...keys].sort(), made.filter((k) => k.startsWith('Observation/')).sort());
    if (b.total !== undefined) assert.equal(b.total, 6);
    const enc = await getHistory('/fhir/Encounter/_history');
    assert.deepEqual((enc.entry || []).map((x) => x.request.method), ['DELETE', 'POST']);
  });

  it('type history of a type with no resources is an empty history Bundle', async () => {
    const b = await getHistory('/fhir/Medication/_history');
    assert.equal((b.entry || []).length, 0);
    if (b.total !== undefined) assert.equal(b.total, 0);
  });

  it('system history lists every version of every type, newest first', async () => {
    const { entries } = await allPages(srv, '/fhir/_history?_count=1000');
    entries.forEach(checkEntry);
    checkNewestFirst(entries);
    const keys = entries.map(key);
    assert.equal(new Set(keys).size, keys.length, 'no version listed twice');
    for (const k of made) assert.ok(keys.includes(k), `system history misses ${k}`);
    assert.ok(keys.some((k) => k.startsWith('Patient/')), 'system history includes the Patients of the other tests');
  });

  it('type and system history page with _count without losing or repeating entries', async () => {
    const full = await allPages(srv, '/fhir/Observation/_history?_count=1000');
    const paged = await allPages(srv, '/fhir/Observation/_history?_count=2', { count: 2 });
    assert.ok(paged.pages.length >= 3);
    assert.deepEqual(paged.entries.map(key), full.entries.map(key));
    const sysFull = await allPages(srv, '/fhir/_history?_count=1000');
    const sysPaged = await allPages(srv, '/fhir/_history?_count=3', { count: 3 });
    assert.deepEqual(sysPaged.entries.map(key), sysFull.entries.map(key));
    for (const p of sysPaged.pages) if (p.total !== undefined) assert.equal(p.total, sysFull.entries.length);
  });

  it('history of an unknown resource type gives 404', async () => {
    assertOutcome(await send(srv, 'GET', '/fhir/Foo/_history'), 404);
    assertOutcome(await send(srv, 'GET', '/fhir/Foo/1/_history'), 404);
  });
});

describe('_since and _at', () => {
  // Versions written at least 1.1 s apart: servers need only second precision.
  let sub1; let sub2; let sub1v2;
  before(async () => {
    sub1 = await fhir.create({ resourceType: 'Substance', body: { resourceType: 'Substance', code: { text: 'one' } } });
    await sleep(1100);
    sub2 = await fhir.create({ resourceType: 'Substance', body: { resourceType: 'Substance', code: { text: 'two' } } });
    await sleep(1100);
    sub1v2 = await fhir.update({ resourceType: 'Substance', id: sub1.id, body: { ...sub1, code: { text: 'one, changed' } } });
  });

  const q = (t) => encodeURIComponent(t);

  it('_since keeps only versions created at or after the instant (instance, type, system)', async () => {
    const since = sub2.meta.lastUpdated;
    const inst = await getHistory(`/fhir/Substance/${sub1.id}/_history?_since=${q(since)}`);
    assert.deepEqual((inst.entry || []).map(key), [`Substance/${sub1.id}/2`]);
    const type = await getHistory(`/fhir/Substance/_history?_since=${q(since)}`);
    assert.deepEqual((type.entry || []).map(key), [`Substance/${sub1.id}/2`, `Substance/${sub2.id}/1`]);
    const sys = await getHistory(`/fhir/_history?_since=${q(since)}`);
    assert.deepEqual((sys.entry || []).map(key), [`Substance/${sub1.id}/2`, `Substance/${sub2.id}/1`]);
    const all = await getHistory(`/fhir/Substance/${sub1.id}/_history?_since=${q(sub1.meta.lastUpdated)}`);
    assert.equal((all.entry || []).length, 2, '_since equal to the first version includes it');
  });

  it('_since and _at are kept across pages (next links carry the filter)', async () => {
    const since = sub2.meta.lastUpdated;
    const { entries } = await allPages(srv, `/fhir/_history?_since=${q(since)}&_count=1`, { count: 1 });
    assert.deepEqual(entries.map(key), [`Substance/${sub1.id}/2`, `Substance/${sub2.id}/1`]);
    const t = new Date(Math.floor(Date.parse(sub2.meta.lastUpdated) / 1000) * 1000 + 1000).toISOString();
    const at = await allPages(srv, `/fhir/Substance/_history?_at=${q(t)}&_count=1`, { count: 1 });
    assert.deepEqual(at.entries.map(key).sort(), [`Substance/${sub1.id}/1`, `Substance/${sub2.id}/1`].sort());
  });

  it('_since in the future gives an empty history', async () => {
    const future = new Date(Date.parse(sub1v2.meta.lastUpdated) + 3600e3).toISOString();
    const b = await getHistory(`/fhir/Substance/_history?_since=${q(future)}`);
    assert.equal((b.entry || []).length, 0);
  });

  it('_since with a UTC offset means the same instant', async () => {
    const t = new Date(Date.parse(sub2.meta.lastUpdated));
    const shifted = new Date(t.getTime() + 2 * 3600e3).toISOString().replace('Z', '+02:00');
    const b = await getHistory(`/fhir/Substance/_history?_since=${q(shifted)}`);
    assert.deepEqual((b.entry || []).map(key), [`Substance/${sub1.id}/2`, `Substance/${sub2.id}/1`]);
  });

  it('_at gives the version current at that instant', async () => {
    // one second after the first version (to the second), before the update
    const t = new Date(Math.floor(Date.parse(sub1.meta.lastUpdated) / 1000) * 1000 + 1000).toISOString();
    assert.ok(Date.parse(t) < Date.parse(sub1v2.meta.lastUpdated));
    const b = await getHistory(`/fhir/Substance/${sub1.id}/_history?_at=${q(t)}`);
    assert.deepEqual((b.entry || []).map(key), [`Substance/${sub1.id}/1`]);
    const after = new Date(Date.parse(sub1v2.meta.lastUpdated) + 1500).toISOString();
    const b2 = await getHistory(`/fhir/Substance/${sub1.id}/_history?_at=${q(after)}`);
    assert.deepEqual((b2.entry || []).map(key), [`Substance/${sub1.id}/2`]);
    const before = new Date(Date.parse(sub1.meta.lastUpdated) - 3600e3).toISOString();
    const b3 = await getHistory(`/fhir/Substance/${sub1.id}/_history?_at=${q(before)}`);
    assert.equal((b3.entry || []).length, 0, 'nothing was current before the resource existed');
  });

  it('_at at type level gives each resource\'s version current then', async () => {
    const t = new Date(Math.floor(Date.parse(sub2.meta.lastUpdated) / 1000) * 1000 + 1000).toISOString();
    assert.ok(Date.parse(t) < Date.parse(sub1v2.meta.lastUpdated));
    const b = await getHistory(`/fhir/Substance/_history?_at=${q(t)}`);
    assert.deepEqual((b.entry || []).map(key).sort(), [`Substance/${sub1.id}/1`, `Substance/${sub2.id}/1`].sort());
  });

  it('an invalid _since or _count is a client error, never a server error', async () => {
    for (const qs of ['_since=yesterday', '_since=2020-13-45T99:00:00Z', '_count=-1', '_count=abc', '_at=notadate']) {
      const res = await send(srv, 'GET', `/fhir/Substance/_history?${qs}`);
      assert.ok(res.status === 400 || res.status === 200, `_history?${qs}: ${res.status} ${res.text.slice(0, 200)}`);
      if (res.status === 400) assertOutcome(res, 400);
    }
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});
