// GET [base]/metadata (the CapabilityStatement) and format negotiation
// (FHIR R4 http.html#capabilities, #mime-type, _format, _pretty, Accept):
// JSON is served in every accepted spelling, XML gets 406 with an OperationOutcome.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, BRON_SHARED } from './lib/server.mjs';
import { client, responseOf, assertOutcome, isFhirJsonType, allPages, send } from './lib/fhir.mjs';

let srv;
let fhir;
let patientId;

before(async () => {
  srv = await startServer();
  fhir = client(srv);
  patientId = (await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true, name: [{ family: 'Visser' }] } })).id;
});
after(async () => { if (srv) await srv.stop(); });

/** The 146 concrete R4 resource types, from the official definitions (null when absent). */
function r4ResourceTypes() {
  const file = path.join(BRON_SHARED, 'data/fhir-r4/profiles-resources.json');
  if (!fs.existsSync(file)) return null;
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  return bundle.entry.map((e) => e.resource)
    .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract && r.derivation === 'specialization')
    .map((r) => r.type)
    .sort();
}

const INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create'];

describe('CapabilityStatement', () => {
  let cs;
  before(async () => { cs = await fhir.capabilityStatement(); });

  it('GET /metadata returns a CapabilityStatement for FHIR 4.0.1 in JSON', async () => {
    const res = responseOf(cs);
    assert.equal(res.status, 200);
    assert.ok(isFhirJsonType(res.headers.get('content-type')));
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.ok(['active', 'draft', 'retired', 'unknown'].includes(cs.status), `status ${cs.status} (1..1)`);
    assert.match(cs.date || '', /^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T.+)?)?)?$/, 'date is required (1..1)');
    assert.ok(['instance', 'capability'].includes(cs.kind), `kind ${cs.kind}`);
    assert.ok(Array.isArray(cs.format) && cs.format.length > 0, 'format is required (1..*)');
    assert.ok(cs.format.some((f) => ['json', 'application/fhir+json'].includes(f)), `format ${cs.format} must include json`);
    assert.ok(!cs.format.some((f) => /xml|turtle|ttl/.test(f)), `format ${cs.format} claims a format that gets 406`);
    assert.ok(Array.isArray(cs.rest) && cs.rest.length >= 1);
    assert.equal(cs.rest[0].mode, 'server');
  });

  it('lists every R4 resource type once, each with read, vread, update, patch, delete, history-instance, history-type, create', async (t) => {
    const resources = cs.rest[0].resource || [];
    const types = resources.map((r) => r.type);
    assert.equal(new Set(types).size, types.length, 'a resource type listed twice');
    const expected = r4ResourceTypes();
    if (!expected) {
      t.skip(`profiles-resources.json not found under ${BRON_SHARED}`);
      return;
    }
    assert.equal(expected.length, 146);
    assert.deepEqual([...types].sort(), expected);
    for (const r of resources) {
      const codes = (r.interaction || []).map((i) => i.code);
      for (const want of INTERACTIONS) assert.ok(codes.includes(want), `${r.type} lacks interaction ${want}`);
    }
  });

  it('declares versioning, history and update-as-create consistently with what the server does', () => {
    for (const r of cs.rest[0].resource || []) {
      if (r.versioning !== undefined) assert.ok(['versioned', 'versioned-update'].includes(r.versioning), `${r.type}.versioning ${r.versioning}: the server keeps versions`);
      if (r.readHistory !== undefined) assert.equal(r.readHistory, true, `${r.type}.readHistory: vread of old versions works`);
      if (r.updateCreate !== undefined) assert.equal(r.updateCreate, true, `${r.type}.updateCreate: update-as-create works`);
    }
  });

  it('lists history-system as a whole-system interaction', () => {
    const codes = (cs.rest[0].interaction || []).map((i) => i.code);
    assert.ok(codes.includes('history-system'), `rest.interaction ${codes}`);
  });

  it('claims only what is implemented: every claimed interaction answers', async () => {
    const patient = cs.rest[0].resource.find((r) => r.type === 'Patient');
    const codes = (patient.interaction || []).map((i) => i.code);
    if (codes.includes('search-type')) {
      const res = await send(srv, 'GET', '/fhir/Patient?_count=1');
      assert.equal(res.status, 200, `search-type is claimed but GET /fhir/Patient gives ${res.status}`);
      assert.equal(res.json.type, 'searchset');
    }
    const sys = (cs.rest[0].interaction || []).map((i) => i.code);
    if (sys.includes('transaction') || sys.includes('batch')) {
      const res = await send(srv, 'POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [] });
      assert.equal(res.status, 200, `batch/transaction is claimed but POST /fhir gives ${res.status}`);
    }
    if (sys.includes('search-system')) {
      const res = await send(srv, 'GET', '/fhir?_count=1');
      assert.equal(res.status, 200, `search-system is claimed but GET /fhir gives ${res.status}`);
    }
    const { entries } = await allPages(srv, '/fhir/_history?_count=10');
    assert.ok(entries.length >= 1);
  });

  it('is itself a valid resource: no unknown elements at the top level', () => {
    const known = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension',
      'modifierExtension', 'url', 'version', 'name', 'title', 'status', 'experimental', 'date', 'publisher', 'contact',
      'description', 'useContext', 'jurisdiction', 'purpose', 'copyright', 'kind', 'instantiates', 'imports', 'software',
      'implementation', 'fhirVersion', 'format', 'patchFormat', 'implementationGuide', 'rest', 'messaging', 'document']);
    for (const k of Object.keys(cs)) assert.ok(known.has(k), `CapabilityStatement has unknown element ${k}`);
    if (cs.patchFormat) assert.ok(cs.patchFormat.includes('application/json-patch+json'));
  });
});

describe('formats', () => {
  const read = (qs = '', headers = {}) => send(srv, 'GET', `/fhir/Patient/${patientId}${qs}`, undefined, headers);

  it('responses are application/fhir+json in UTF-8 (a charset parameter, if any, says utf-8; http.html#mime-type)', async () => {
    const ok = await read();
    assert.equal(ok.status, 200);
    const err = await send(srv, 'GET', '/fhir/Patient/does-not-exist');
    for (const ct of [ok.headers['content-type'], err.headers['content-type']]) {
      assert.match(ct || '', /^application\/fhir\+json\s*(;|$)/i, `Content-Type ${ct}`);
      const cs = /;\s*charset=([^;\s]+)/i.exec(ct);
      if (cs) assert.equal(cs[1].toLowerCase().replace(/"/g, ''), 'utf-8', `Content-Type ${ct}: FHIR is always UTF-8`);
    }
  });

  it('Accept: application/json is answered as application/json (http.html#mime-type: SHOULD respond with the requested generic type)', async () => {
    const res = await read('', { accept: 'application/json' });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] || '', /^application\/json\s*(;|$)/i, `Content-Type ${res.headers['content-type']}`);
    assert.equal(res.json.id, patientId);
  });

  it('_format=json, application/json, application/fhir+json give JSON', async () => {
    for (const f of ['json', 'application/json', 'application/fhir+json']) {
      const res = await read(`?_format=${encodeURIComponent(f)}`);
      assert.equal(res.status, 200, `_format=${f}: ${res.status}`);
      assert.ok(isFhirJsonType(res.headers['content-type']), `_format=${f}: Content-Type ${res.headers['content-type']}`);
      assert.equal(res.json.id, patientId);
      const meta = await send(srv, 'GET', `/fhir/metadata?_format=${encodeURIComponent(f)}`);
      assert.equal(meta.status, 200);
      assert.equal(meta.json.resourceType, 'CapabilityStatement');
    }
  });

  it('_format=xml, text/xml, application/xml, application/fhir+xml, ttl, turtle give 406 with an OperationOutcome', async () => {
    for (const f of ['xml', 'text/xml', 'application/xml', 'application/fhir+xml', 'ttl', 'text/turtle', 'application/fhir+turtle']) {
      assertOutcome(await read(`?_format=${encodeURIComponent(f)}`), 406, `read _format=${f}`);
      assertOutcome(await send(srv, 'GET', `/fhir/metadata?_format=${encodeURIComponent(f)}`), 406, `metadata _format=${f}`);
    }
    assertOutcome(await send(srv, 'GET', `/fhir/Patient/${patientId}/_history?_format=xml`), 406, 'history _format=xml');
  });

  it('Accept: application/fhir+xml or application/xml only gives 406 with an OperationOutcome', async () => {
    for (const a of ['application/fhir+xml', 'application/xml', 'application/fhir+xml;q=1', 'text/xml']) {
      assertOutcome(await read('', { accept: a }), 406, `Accept: ${a}`);
    }
    assertOutcome(await send(srv, 'GET', '/fhir/metadata', undefined, { accept: 'application/fhir+xml' }), 406, 'metadata');
  });

  it('a create with Accept: application/fhir+xml gives 406 and stores nothing', async () => {
    const before = (await allPages(srv, '/fhir/Patient/_history?_count=1000')).entries.length;
    const res = await send(srv, 'POST', '/fhir/Patient', { resourceType: 'Patient' }, { accept: 'application/fhir+xml' });
    assertOutcome(res, 406);
    const afterCount = (await allPages(srv, '/fhir/Patient/_history?_count=1000')).entries.length;
    assert.equal(afterCount, before, 'a create answered with 406 must not have stored anything');
  });

  it('JSON-compatible Accept headers give JSON', async () => {
    for (const a of [
      'application/fhir+json',
      'application/json',
      'application/fhir+json; charset=utf-8',
      'application/fhir+json; fhirVersion=4.0',
      '*/*',
      'application/*',
      'application/fhir+xml;q=0.9, application/fhir+json;q=0.8',
      'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    ]) {
      const res = await read('', { accept: a });
      assert.equal(res.status, 200, `Accept: ${a} gave ${res.status}`);
      assert.ok(isFhirJsonType(res.headers['content-type']), `Accept: ${a}: Content-Type ${res.headers['content-type']}`);
      assert.equal(res.json.id, patientId);
    }
    const none = await read('', { accept: null });
    assert.equal(none.status, 200, 'no Accept header');
    assert.equal(none.json.id, patientId);
  });

  it('_format overrides the Accept header', async () => {
    const res = await read('?_format=json', { accept: 'application/fhir+xml' });
    assert.equal(res.status, 200, `_format=json with Accept xml: ${res.status}`);
    assert.equal(res.json.id, patientId);
  });

  it('_pretty=true gives indented JSON with the same content; _pretty=false the same content', async () => {
    const plain = await read();
    const pretty = await read('?_pretty=true');
    assert.equal(pretty.status, 200);
    assert.ok(/\n[ \t]+"/.test(pretty.text), `_pretty=true is not indented: ${pretty.text.slice(0, 120)}`);
    assert.deepEqual(pretty.json, plain.json);
    const notPretty = await read('?_pretty=false');
    assert.deepEqual(notPretty.json, plain.json);
    const meta = await send(srv, 'GET', '/fhir/metadata?_pretty=true');
    assert.ok(/\n[ \t]+"/.test(meta.text), 'metadata with _pretty=true is not indented');
    const hist = await send(srv, 'GET', `/fhir/Patient/${patientId}/_history?_pretty=true`);
    assert.ok(/\n[ \t]+"/.test(hist.text), 'history with _pretty=true is not indented');
    const err = await send(srv, 'GET', '/fhir/Patient/none-such?_pretty=true');
    assert.equal(err.status, 404);
    assert.equal(err.json.resourceType, 'OperationOutcome');
  });

  it('the body of a read is the stored resource exactly: same bytes on every read', async () => {
    const a = await read();
    const b = await read();
    assert.ok(a.bytes.equals(b.bytes));
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});

