// Patient/[id]/$everything: the Patient and everything in its compartment as
// a paged searchset, narrowed by _type and _since; unknown patients are 404.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };
let srv;

async function post(type, body) {
  const r = await srv.request('POST', `/fhir/${type}`, { headers: json, body: JSON.stringify(body) });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function all(path) {
  const seen = [];
  let url = `/fhir/${path}`;
  for (let pages = 0; url && pages < 50; pages++) {
    const r = await srv.request('GET', url);
    assert.equal(r.status, 200, r.text);
    for (const e of r.json.entry || []) seen.push(`${e.resource.resourceType}/${e.resource.id}`);
    const next = (r.json.link || []).find((l) => l.relation === 'next');
    url = next ? new URL(next.url).pathname + new URL(next.url).search : null;
  }
  return seen.sort();
}

describe('Patient/[id]/$everything', () => {
  let p1, p2, expected;
  before(async () => {
    srv = await startServer();
    p1 = await post('Patient', { resourceType: 'Patient', name: [{ family: 'Een' }] });
    p2 = await post('Patient', { resourceType: 'Patient', name: [{ family: 'Twee' }] });
    expected = [`Patient/${p1.id}`];
    for (let i = 0; i < 7; i++) {
      const o = await post('Observation', { resourceType: 'Observation', status: 'final', code: { text: `o${i}` },
        subject: { reference: `Patient/${p1.id}` } });
      expected.push(`Observation/${o.id}`);
    }
    const c = await post('Condition', { resourceType: 'Condition', subject: { reference: `Patient/${p1.id}` } });
    expected.push(`Condition/${c.id}`);
    await post('Observation', { resourceType: 'Observation', status: 'final', code: { text: 'other' },
      subject: { reference: `Patient/${p2.id}` } });
    await post('Organization', { resourceType: 'Organization', name: 'not in a compartment' });
  });
  after(async () => { await srv.stop(); });

  it('returns the Patient and its compartment, every resource once across pages', async () => {
    assert.deepEqual(await all(`Patient/${p1.id}/$everything?_count=3`), expected.sort());
  });

  it('_type narrows the types', async () => {
    const got = await all(`Patient/${p1.id}/$everything?_type=Condition,Patient`);
    assert.deepEqual(got, expected.filter((r) => !r.startsWith('Observation/')).sort());
  });

  it('_since keeps what changed since then', async () => {
    const future = new Date(Date.now() + 3600e3).toISOString();
    assert.deepEqual(await all(`Patient/${p1.id}/$everything?_since=${encodeURIComponent(future)}`), []);
    assert.equal((await all(`Patient/${p1.id}/$everything?_since=2000-01-01T00:00:00Z`)).length, expected.length);
  });

  it('an unknown patient is 404 with an OperationOutcome', async () => {
    const r = await srv.request('GET', '/fhir/Patient/nobody/$everything');
    assert.equal(r.status, 404);
    assert.equal(r.json.resourceType, 'OperationOutcome');
  });
});
