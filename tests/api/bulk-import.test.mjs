// $import (issue 9): POST [base]/$import with NDJSON resources keeps their
// ids; each line is a PUT of a batch (its own status in the answer); the
// wrong method, content type or a line that is no resource is a 4xx; the
// scopes of the token apply to each line; every write is audited.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, mintToken } from './lib/server.mjs';

let srv;
const NDJSON = { 'content-type': 'application/fhir+ndjson' };

function post(body, headers = NDJSON, token) {
  const opts = { headers: { accept: 'application/fhir+json', ...headers }, body };
  if (token) { opts.headers.authorization = `Bearer ${token}`; opts.noToken = true; }
  return srv.request('POST', '/fhir/$import', opts);
}

before(async () => { srv = await startServer(); });
after(async () => { if (srv) await srv.stop(); });

describe('$import', () => {
  it('keeps the ids of the resources, and each line has its own status', async () => {
    const lines = [
      { resourceType: 'Patient', id: 'imp-p1', name: [{ family: 'Import' }] },
      { resourceType: 'Observation', id: 'imp-o1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/imp-p1' } },
      { resourceType: 'Patient', name: [{ family: 'NoId' }] },
      { resourceType: 'Patient', id: 'imp-bad', gender: 'not-a-gender' },
    ];
    const r = await post(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.type, 'batch-response');
    const st = r.json.entry.map((e) => e.response.status.slice(0, 3));
    assert.deepEqual(st, ['201', '201', '201', '400']);
    const o = await srv.request('GET', '/fhir/Observation/imp-o1');
    assert.equal(o.status, 200);
    assert.equal(o.json.subject.reference, 'Patient/imp-p1');
    const bad = await srv.request('GET', '/fhir/Patient/imp-bad');
    assert.equal(bad.status, 404, 'the invalid line stored nothing');
    // again: the same ids are updated, not duplicated
    const again = await post(JSON.stringify({ ...lines[0], name: [{ family: 'Again' }] }));
    assert.equal(again.json.entry[0].response.status.slice(0, 3), '200');
    const p = await srv.request('GET', '/fhir/Patient/imp-p1');
    assert.equal(p.json.meta.versionId, '2');
    assert.equal(p.json.name[0].family, 'Again');
  });

  it('refuses what is not NDJSON of resources', async () => {
    let r = await post('{"resourceType":"Patient","id":"x"}', { 'content-type': 'application/fhir+json' });
    assert.equal(r.status, 415);
    assert.equal(r.json.resourceType, 'OperationOutcome');
    r = await post('{"resourceType":"Patient","id":"ok1"}\n{not json\n');
    assert.equal(r.status, 400);
    assert.match(r.json.issue[0].diagnostics, /line 2/);
    assert.equal((await srv.request('GET', '/fhir/Patient/ok1')).status, 404, 'nothing of a refused import is stored');
    r = await post('\n\n');
    assert.equal(r.status, 400);
    r = await srv.request('GET', '/fhir/$import');
    assert.equal(r.status, 405);
  });

  it('applies the token\'s scopes to every line', async () => {
    const t = mintToken({ sub: 'imp-reader', scope: 'system/*.rs' });
    const r = await post(JSON.stringify({ resourceType: 'Patient', id: 'imp-noscope' }), NDJSON, t);
    assert.ok(r.status === 403 || (r.status === 200 && r.json.entry[0].response.status.startsWith('403')), `${r.status} ${r.text}`);
    assert.equal((await srv.request('GET', '/fhir/Patient/imp-noscope')).status, 404);
  });

  it('audits each imported resource', async () => {
    const t = mintToken({ sub: 'imp-auditee', scope: 'system/*.cruds' });
    const r = await post(JSON.stringify({ resourceType: 'Patient', id: 'imp-aud', name: [{ family: 'Aud' }] }), NDJSON, t);
    assert.equal(r.status, 200, r.text);
    const auditor = mintToken({ sub: 'imp-auditor', scope: 'system/AuditEvent.rs' });
    let recs = [];
    for (let i = 0; i < 40 && !recs.some((e) => e.action === 'C'); i++) {
      const a = await srv.request('GET', '/fhir/AuditEvent?agent=imp-auditee', { headers: { authorization: `Bearer ${auditor}` }, noToken: true });
      recs = (a.json.entry || []).map((e) => e.resource);
      if (!recs.some((e) => e.action === 'C')) await new Promise((res) => setTimeout(res, 50));
    }
    const c = recs.find((e) => e.action === 'C');
    assert.ok(c, JSON.stringify(recs.map((e) => e.subtype)));
    assert.ok(c.entity.some((x) => x.what?.reference === 'Patient/imp-aud/_history/1'));
  });
});
