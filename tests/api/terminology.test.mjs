// Token :in / :not-in / :below / :above answered from ValueSets and
// CodeSystems stored in Bron (search.html#token); an unknown value set is a
// 400 with an OperationOutcome.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };
const CS = 'http://example.org/cs';
let srv;

async function post(type, body) {
  const r = await srv.request('POST', `/fhir/${type}`, { headers: json, body: JSON.stringify(body) });
  assert.equal(r.status, 201, r.text);
}

async function codes(query) {
  const r = await srv.request('GET', `/fhir/Observation?${query}&_count=100`);
  assert.equal(r.status, 200, r.text);
  return (r.json.entry || []).filter((e) => e.search.mode === 'match')
    .map((e) => e.resource.code.coding[0].code).sort();
}

describe('token terminology modifiers', () => {
  before(async () => {
    srv = await startServer();
    await post('CodeSystem', { resourceType: 'CodeSystem', url: CS, status: 'active', content: 'complete',
      concept: [{ code: 'a', concept: [{ code: 'a1' }, { code: 'a2', concept: [{ code: 'a2x' }] }] }, { code: 'b' }] });
    await post('ValueSet', { resourceType: 'ValueSet', url: 'http://example.org/vs', status: 'active',
      compose: { include: [{ system: CS, concept: [{ code: 'a1' }, { code: 'b' }] }] } });
    await post('ValueSet', { resourceType: 'ValueSet', url: 'http://example.org/vs-all', status: 'active',
      compose: { include: [{ system: CS }] } });
    for (const code of ['a', 'a1', 'a2', 'a2x', 'b']) {
      await post('Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: CS, code }] } });
    }
    await post('Observation', { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://other', code: 'a1' }] } });
  });
  after(async () => { await srv.stop(); });

  it(':in takes the codes of a stored ValueSet, system included', async () => {
    assert.deepEqual(await codes('code:in=http://example.org/vs'), ['a1', 'b']);
  });
  it(':in with a ValueSet that includes a whole stored CodeSystem', async () => {
    assert.deepEqual(await codes('code:in=http://example.org/vs-all'), ['a', 'a1', 'a2', 'a2x', 'b']);
  });
  it(':not-in is every other resource', async () => {
    assert.deepEqual(await codes('code:not-in=http://example.org/vs'), ['a', 'a1', 'a2', 'a2x']);
  });
  it(':below and :above follow the CodeSystem hierarchy', async () => {
    assert.deepEqual(await codes(`code:below=${CS}|a2`), ['a2', 'a2x']);
    assert.deepEqual(await codes(`code:above=${CS}|a2x`), ['a', 'a2', 'a2x']);
  });
  it('an unknown ValueSet or code is a 400 OperationOutcome', async () => {
    for (const q of ['code:in=http://example.org/none', `code:below=${CS}|zz`, 'code:below=nosystem']) {
      const r = await srv.request('GET', `/fhir/Observation?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.resourceType, 'OperationOutcome');
    }
  });
});
