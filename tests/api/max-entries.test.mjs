// --max-entries bounds the entries of a batch or transaction Bundle: one more
// gets 413 with an OperationOutcome and nothing is stored; the limit itself works.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };
let srv;

function bundle(type, n, tag) {
  return JSON.stringify({ resourceType: 'Bundle', type, entry: Array.from({ length: n }, () => ({
    resource: { resourceType: 'Basic', code: { text: tag } }, request: { method: 'POST', url: 'Basic' } })) });
}

async function count(tag) {
  const r = await srv.request('GET', `/fhir/Basic?code:text=${tag}&_total=accurate&_count=0`);
  assert.equal(r.status, 200, r.text);
  return r.json.total;
}

describe('--max-entries', () => {
  before(async () => { srv = await startServer({ args: ['--max-entries', '5'] }); });
  after(async () => { await srv.stop(); });

  for (const type of ['transaction', 'batch']) {
    it(`a ${type} over the limit is 413 and stores nothing; at the limit it works`, async () => {
      const over = await srv.request('POST', '/fhir', { headers: json, body: bundle(type, 6, `over${type}`) });
      assert.equal(over.status, 413, over.text);
      assert.equal(over.json.resourceType, 'OperationOutcome');
      assert.match(over.json.issue[0].diagnostics, /at most 5/);
      assert.equal(await count(`over${type}`), 0);
      const ok = await srv.request('POST', '/fhir', { headers: json, body: bundle(type, 5, `at${type}`) });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.entry.length, 5);
      assert.equal(await count(`at${type}`), 5);
    });
  }
});
