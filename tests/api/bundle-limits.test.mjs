// Bundle size limits (issue 5 "Limits"): a Bundle over --max-body gets 413
// with an OperationOutcome and nothing of it is stored; one under the limit
// is processed. The server runs with --max-body 65536 (so the request is
// small enough to be written before the server answers).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { assertOutcome, send, newId } from './lib/fhir.mjs';

const MAX_BODY = 65536;
let srv;
before(async () => { srv = await startServer({ args: ['--max-body', String(MAX_BODY)] }); });
after(async () => { if (srv) await srv.stop(); });

const bundle = (type, sys, fill) => ({
  resourceType: 'Bundle', type,
  entry: [
    { fullUrl: 'urn:uuid:0b6a1c52-2f0e-4f7e-9b0a-7c1f5f0e0001', resource: { resourceType: 'Patient', identifier: [{ system: sys, value: '1' }] }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient', identifier: [{ system: sys, value: '2' }], name: [{ text: 'y'.repeat(fill) }] }, request: { method: 'POST', url: 'Patient' } },
  ],
});
const count = async (sys) => (await send(srv, 'GET', `/fhir/Patient?identifier=${encodeURIComponent(sys)}|&_summary=count`)).json.total;

describe('Bundle size limit', () => {
  it('a transaction over --max-body → 413 OperationOutcome, nothing stored', async () => {
    const sys = `http://bron.test/${newId('lim')}`;
    const body = JSON.stringify(bundle('transaction', sys, MAX_BODY * 2));
    assert.ok(body.length > MAX_BODY);
    assertOutcome(await send(srv, 'POST', '/fhir', body), 413);
    assert.equal(await count(sys), 0);
  });
  it('a batch over --max-body → 413, nothing stored', async () => {
    const sys = `http://bron.test/${newId('lim')}`;
    assertOutcome(await send(srv, 'POST', '/fhir', JSON.stringify(bundle('batch', sys, MAX_BODY + 10))), 413);
    assert.equal(await count(sys), 0);
  });
  it('a transaction just under the limit is processed', async () => {
    const sys = `http://bron.test/${newId('lim')}`;
    const body = JSON.stringify(bundle('transaction', sys, MAX_BODY - 1200));
    assert.ok(body.length < MAX_BODY, `${body.length}`);
    const res = await send(srv, 'POST', '/fhir', body);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.equal(res.json.type, 'transaction-response');
    assert.equal(await count(sys), 2);
  });
});
