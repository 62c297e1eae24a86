// _contained and _containedType (search.html#contained): contained resources
// are searchable on their own when asked, answered as their container or as
// themselves; they follow their container's updates and deletion.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };
let srv;
const LOINC = 'http://loinc.org';

const obs = (id, code) => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: LOINC, code }] } });

async function put(type, id, body) {
  const r = await srv.request('PUT', `/fhir/${type}/${id}`, { headers: json, body: JSON.stringify({ ...body, id }) });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}
async function search(q) {
  const r = await srv.request('GET', `/fhir/${q}`);
  assert.equal(r.status, 200, r.text);
  return (r.json.entry || []).filter((e) => e.search.mode === 'match')
    .map((e) => `${e.resource.resourceType}:${e.fullUrl.split('/fhir/')[1]}`).sort();
}

describe('_contained', () => {
  before(async () => {
    srv = await startServer();
    await put('DiagnosticReport', 'dr1', { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'panel' },
      contained: [obs('o1', '1234-5'), obs('o2', '9999-9')], result: [{ reference: '#o1' }, { reference: '#o2' }] });
    await put('Observation', 'plain', obs(undefined, '1234-5'));
  });
  after(async () => { await srv.stop(); });

  it('false (the default) finds only resources that stand alone', async () => {
    assert.deepEqual(await search(`Observation?code=${LOINC}|1234-5`), ['Observation:Observation/plain']);
  });
  it('true finds contained ones and answers with the container, once', async () => {
    assert.deepEqual(await search(`Observation?code=${LOINC}|1234-5&_contained=true`), ['DiagnosticReport:DiagnosticReport/dr1']);
    assert.deepEqual(await search('Observation?_contained=true'), ['DiagnosticReport:DiagnosticReport/dr1']);
  });
  it('both finds both; _containedType=contained answers with the contained resource', async () => {
    assert.deepEqual(await search(`Observation?code=${LOINC}|1234-5&_contained=both`),
      ['DiagnosticReport:DiagnosticReport/dr1', 'Observation:Observation/plain']);
    assert.deepEqual(await search(`Observation?code=${LOINC}|9999-9&_contained=true&_containedType=contained`),
      ['Observation:DiagnosticReport/dr1#o2']);
  });
  it('follows the container: an update without contained resources, then a delete', async () => {
    await put('DiagnosticReport', 'dr1', { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'panel' },
      contained: [obs('o3', '1234-5')], result: [{ reference: '#o3' }] });
    assert.deepEqual(await search(`Observation?code=${LOINC}|9999-9&_contained=true`), []);
    assert.deepEqual(await search(`Observation?code=${LOINC}|1234-5&_contained=true&_containedType=contained`),
      ['Observation:DiagnosticReport/dr1#o3']);
    const d = await srv.request('DELETE', '/fhir/DiagnosticReport/dr1');
    assert.equal(d.status, 200);
    assert.deepEqual(await search('Observation?_contained=true'), []);
  });
  it('bad values are a 400 OperationOutcome', async () => {
    for (const q of ['Observation?_contained=maybe', 'Observation?_contained=true&_containedType=x']) {
      const r = await srv.request('GET', `/fhir/${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.resourceType, 'OperationOutcome');
    }
  });
});
