// Bad input gets a clear answer (issue 2, section 4; FHIR R4 http.html): each
// malformed request gets an OperationOutcome with the right 4xx, nothing is
// stored (checked against the system-level history and by reads), and no client
// mistake yields a 5xx or a crash. The server runs with --max-body 65536.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, rawExchange, rawStatuses } from './lib/server.mjs';
import { FHIR_JSON, client, assertOutcome, assertNot5xx, allPages, send, newId } from './lib/fhir.mjs';

const MAX_BODY = 65536;
let srv;
let fhir;

before(async () => {
  srv = await startServer({ args: ['--max-body', String(MAX_BODY)] });
  fhir = client(srv);
  // something stored, so "nothing stored" is checked against a non-empty store
  await fhir.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } });
  const id = 'existing';
  await fhir.update({ resourceType: 'Patient', id, body: { resourceType: 'Patient', id, active: true } });
});
after(async () => { if (srv) await srv.stop(); });

async function versionsStored() {
  const { entries } = await allPages(srv, '/fhir/_history?_count=1000');
  return entries.length;
}

/** Send each request; every one must be an OperationOutcome with one of `statuses`, and store nothing. */
async function rejectsAll(statuses, cases) {
  const before = await versionsStored();
  const problems = [];
  for (const [label, method, path, body, headers] of cases) {
    try {
      const res = await send(srv, method, path, body, headers, { timeout: 10000 });
      assertOutcome(res, statuses, label);
    } catch (e) {
      problems.push(`${method} ${path.slice(0, 60)} (${label}): ${e.message.split('\n')[0]}`);
    }
  }
  assert.equal(problems.length, 0, `${problems.length} of ${cases.length} requests not answered as expected:\n  ${problems.join('\n  ')}`);
  assert.equal(await versionsStored(), before, 'a rejected request must not store anything');
  const existing = await send(srv, 'GET', '/fhir/Patient/existing');
  assert.equal(existing.status, 200);
  assert.equal(existing.json.meta.versionId, '1', 'the existing resource is untouched');
}

const P = (extra) => ({ resourceType: 'Patient', ...extra });

describe('invalid JSON gives 400', () => {
  it('truncated, not JSON, empty, not an object, trailing garbage', async () => {
    await rejectsAll(400, [
      ['truncated', 'POST', '/fhir/Patient', '{"resourceType":"Patient",'],
      ['not JSON', 'POST', '/fhir/Patient', 'this is not json'],
      ['empty body', 'POST', '/fhir/Patient', ''],
      ['array', 'POST', '/fhir/Patient', '[]'],
      ['string', 'POST', '/fhir/Patient', '"Patient"'],
      ['null', 'POST', '/fhir/Patient', 'null'],
      ['trailing garbage', 'POST', '/fhir/Patient', '{"resourceType":"Patient"} x'],
      ['two objects', 'POST', '/fhir/Patient', '{"resourceType":"Patient"}{"resourceType":"Patient"}'],
      ['single quotes', 'POST', '/fhir/Patient', "{'resourceType':'Patient'}"],
      ['trailing comma', 'POST', '/fhir/Patient', '{"resourceType":"Patient","active":true,}'],
      ['PUT truncated', 'PUT', '/fhir/Patient/existing', '{"resourceType":"Patient","id":"existing"'],
      ['PUT new id, not JSON', 'PUT', '/fhir/Patient/never-made', '<Patient/>'],
    ]);
    assert.equal((await send(srv, 'GET', '/fhir/Patient/never-made')).status, 404);
  });

  it('invalid UTF-8 and NUL bytes', async () => {
    const bad = Buffer.concat([Buffer.from('{"resourceType":"Patient","name":[{"family":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}]}')]);
    await rejectsAll(400, [
      ['invalid UTF-8', 'POST', '/fhir/Patient', bad],
      ['raw NUL byte', 'POST', '/fhir/Patient', Buffer.from('{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}')],
    ]);
  });

  it('very deeply nested JSON (20,000 levels) gives 400, not a crash', async () => {
    const depth = 20000;
    const body = `{"resourceType":"Patient","extension":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const body2 = `{"resourceType":"Patient","extension":[${'{"extension":['.repeat(3000)}${']}'.repeat(3000)}]}`;
    assert.ok(body.length < MAX_BODY && body2.length < MAX_BODY);
    await rejectsAll(400, [
      ['nested arrays', 'POST', '/fhir/Patient', body],
      ['nested objects', 'POST', '/fhir/Patient', body2],
    ]);
  });
});

describe('resourceType', () => {
  it('missing, unknown, abstract, of the wrong JSON type, or not the URL type gives 400', async () => {
    await rejectsAll(400, [
      ['missing', 'POST', '/fhir/Patient', { active: true }],
      ['unknown', 'POST', '/fhir/Patient', { resourceType: 'Foo' }],
      ['other type', 'POST', '/fhir/Patient', { resourceType: 'Observation', status: 'final', code: { text: 'x' } }],
      ['lower case', 'POST', '/fhir/Patient', { resourceType: 'patient' }],
      ['abstract DomainResource', 'POST', '/fhir/Patient', { resourceType: 'DomainResource' }],
      ['data type', 'POST', '/fhir/Patient', { resourceType: 'HumanName' }],
      ['number', 'POST', '/fhir/Patient', { resourceType: 42 }],
      ['PUT other type', 'PUT', '/fhir/Patient/existing', { resourceType: 'Practitioner', id: 'existing' }],
      ['PUT unknown type', 'PUT', '/fhir/Patient/existing', { resourceType: 'Foo', id: 'existing' }],
    ]);
  });
});

describe('ids', () => {
  it('PUT whose body id differs from the URL id, or has no id, gives 400', async () => {
    await rejectsAll(400, [
      ['different id', 'PUT', '/fhir/Patient/existing', P({ id: 'other', active: false })],
      ['no id', 'PUT', '/fhir/Patient/existing', P({ active: false })],
      ['no id, new resource', 'PUT', '/fhir/Patient/brand-new', P({ active: false })],
      ['id of the wrong case', 'PUT', '/fhir/Patient/existing', P({ id: 'Existing' })],
    ]);
    assert.equal((await send(srv, 'GET', '/fhir/Patient/other')).status, 404);
    assert.equal((await send(srv, 'GET', '/fhir/Patient/brand-new')).status, 404);
  });

  it('ids that break the id rules ([A-Za-z0-9-.]{1,64}) give 400', async () => {
    const long = 'a'.repeat(65);
    await rejectsAll(400, [
      ['65 characters', 'PUT', `/fhir/Patient/${long}`, P({ id: long })],
      ['space', 'PUT', '/fhir/Patient/a%20b', P({ id: 'a b' })],
      ['underscore', 'PUT', '/fhir/Patient/a_b', P({ id: 'a_b' })],
      ['non-ASCII', 'PUT', '/fhir/Patient/%C3%A9t%C3%A9', P({ id: 'été' })],
      ['colon', 'PUT', '/fhir/Patient/a:b', P({ id: 'a:b' })],
      ['plus', 'PUT', '/fhir/Patient/a+b', P({ id: 'a+b' })],
      ['body id of the wrong JSON type', 'PUT', '/fhir/Patient/12', P({ id: 12 })],
    ]);
    for (const p of [long, 'a%20b', 'a_b', 'a:b']) {
      const res = await send(srv, 'GET', `/fhir/Patient/${p}`);
      assert.ok([400, 404].includes(res.status), `GET Patient/${p}: ${res.status}`);
    }
  });
});

describe('body size limit (--max-body)', () => {
  const sized = (n) => {
    const head = '{"resourceType":"Patient","name":[{"text":"';
    const tail = '"}]}';
    return head + 'x'.repeat(n - head.length - tail.length) + tail;
  };

  it('a body under the limit is accepted', async () => {
    const res = await send(srv, 'POST', '/fhir/Patient', sized(MAX_BODY - 100));
    assert.equal(res.status, 201, `${res.status} ${res.text.slice(0, 200)}`);
  });

  it('a body over the limit gives 413 with an OperationOutcome (POST, PUT, PATCH)', async () => {
    await rejectsAll(413, [
      ['POST just over', 'POST', '/fhir/Patient', sized(MAX_BODY + 1)],
      ['POST 4x over', 'POST', '/fhir/Patient', sized(MAX_BODY * 4)],
      ['PUT over', 'PUT', '/fhir/Patient/existing', sized(MAX_BODY + 1000).replace('"Patient"', '"Patient","id":"existing"')],
      ['PATCH over', 'PATCH', '/fhir/Patient/existing', `[{"op":"add","path":"/name","value":[{"text":"${'y'.repeat(MAX_BODY)}"}]}]`, { 'content-type': 'application/json-patch+json' }],
    ]);
  });

  it('a chunked body (no Content-Length) over the limit gives 413', async () => {
    const before = await versionsStored();
    const chunk = 'x'.repeat(8192);
    const chunks = ['{"resourceType":"Patient","name":[{"text":"', ...Array(12).fill(chunk), '"}]}'];
    const res = await srv.request('POST', '/fhir/Patient', {
      headers: { 'content-type': FHIR_JSON, accept: FHIR_JSON, 'transfer-encoding': 'chunked' },
      body: chunks,
    });
    assertOutcome(res, 413);
    assert.equal(await versionsStored(), before);
  });
});

describe('body size limit with Expect: 100-continue', () => {
  it('announcing a body over the limit gets 413 (before or after 100 Continue), never the body stored', async () => {
    const before = await versionsStored();
    const len = MAX_BODY * 16;
    const head = `POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${srv.token}\r\nContent-Type: application/fhir+json\r\n`
      + `Accept: application/fhir+json\r\nContent-Length: ${len}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    let sentBody = false;
    const text = await rawExchange(srv.port, head, {
      onData: (t, sock) => {
        if (!sentBody && /^HTTP\/1\.1 100/.test(t)) {
          sentBody = true;
          const body = `{"resourceType":"Patient","name":[{"text":"${'x'.repeat(len - 44)}"}]}`;
          sock.write(body.slice(0, len));
        }
      },
      done: (t) => rawStatuses(t).some((s) => s >= 200) && /\r\n\r\n[\s\S]*\}/.test(t.slice(t.search(/HTTP\/1\.1 [2-5]/))),
    });
    const finals = rawStatuses(text).filter((s) => s >= 200);
    assert.deepEqual(finals, [413], `expected one 413 response, got: ${text.slice(0, 300)}`);
    assert.equal(await versionsStored(), before);
  });
});

describe('HTTP framing', () => {
  it('an HTTP/1.1 request without Host gets 400 (RFC 9112 3.2)', async () => {
    const text = await rawExchange(srv.port, 'GET /fhir/metadata HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.deepEqual(rawStatuses(text), [400], text.slice(0, 200));
  });

  it('pipelined requests on one connection get their responses in order', async () => {
    const req = (p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${srv.token}\r\nAccept: application/fhir+json\r\n\r\n`;
    const text = await rawExchange(srv.port, req('/fhir/Patient/existing') + req('/fhir/Patient/nobody-here') + req('/fhir/metadata'), {
      done: (t) => rawStatuses(t).length >= 3 && t.trimEnd().endsWith('}'),
    });
    assert.deepEqual(rawStatuses(text), [200, 404, 200], text.slice(0, 300));
  });
});

describe('Content-Type', () => {
  it('a body that is not FHIR JSON gives 415 (POST, PUT, PATCH)', async () => {
    const body = JSON.stringify(P({ active: true }));
    const put = JSON.stringify(P({ id: 'existing', active: false }));
    await rejectsAll(415, [
      ['text/plain', 'POST', '/fhir/Patient', body, { 'content-type': 'text/plain' }],
      ['application/fhir+xml', 'POST', '/fhir/Patient', '<Patient xmlns="http://hl7.org/fhir"/>', { 'content-type': 'application/fhir+xml' }],
      ['application/xml', 'POST', '/fhir/Patient', body, { 'content-type': 'application/xml' }],
      ['form', 'POST', '/fhir/Patient', 'active=true', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['PUT text/plain', 'PUT', '/fhir/Patient/existing', put, { 'content-type': 'text/plain' }],
      ['PATCH text/plain', 'PATCH', '/fhir/Patient/existing', '[{"op":"replace","path":"/active","value":false}]', { 'content-type': 'text/plain' }],
    ]);
  });

  it('application/fhir+json with charset and fhirVersion parameters is accepted', async () => {
    for (const ct of ['application/fhir+json; charset=utf-8', 'application/fhir+json;charset=UTF-8', 'application/fhir+json; fhirVersion=4.0']) {
      const res = await send(srv, 'POST', '/fhir/Patient', P({ active: true }), { 'content-type': ct });
      assert.equal(res.status, 201, `Content-Type ${ct}: ${res.status} ${res.text.slice(0, 200)}`);
    }
  });
});

describe('elements checked against the R4 definitions', () => {
  it('an element of the wrong JSON type gives 400', async () => {
    await rejectsAll(400, [
      ['active "yes"', 'POST', '/fhir/Patient', P({ active: 'yes' })],
      ['active null', 'POST', '/fhir/Patient', P({ active: null })],
      ['active [true]', 'POST', '/fhir/Patient', P({ active: [true] })],
      ['name not an array', 'POST', '/fhir/Patient', P({ name: { family: 'Jansen' } })],
      ['name of strings', 'POST', '/fhir/Patient', P({ name: ['Jansen'] })],
      ['given not an array', 'POST', '/fhir/Patient', P({ name: [{ given: 'Anna' }] })],
      ['birthDate 12', 'POST', '/fhir/Patient', P({ birthDate: 12 })],
      ['gender 1', 'POST', '/fhir/Patient', P({ gender: 1 })],
      ['multipleBirthInteger 1.5', 'POST', '/fhir/Patient', P({ multipleBirthInteger: 1.5 })],
      ['multipleBirthInteger "3"', 'POST', '/fhir/Patient', P({ multipleBirthInteger: '3' })],
      ['period a string', 'POST', '/fhir/Patient', P({ identifier: [{ value: '1', period: '2020' }] })],
      ['valueBoolean "true"', 'POST', '/fhir/Patient', P({ extension: [{ url: 'http://example.org/x', valueBoolean: 'true' }] })],
      ['_birthDate a string', 'POST', '/fhir/Patient', P({ birthDate: '1970-01-01', _birthDate: 'x' })],
      ['meta a string', 'POST', '/fhir/Patient', P({ meta: 'x' })],
      ['Quantity.value "5"', 'POST', '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: '5' } }],
      ['contained element of the wrong type', 'POST', '/fhir/Patient', P({ contained: [{ resourceType: 'Organization', id: 'o', name: 5 }] })],
      ['PUT active "no"', 'PUT', '/fhir/Patient/existing', P({ id: 'existing', active: 'no' })],
    ]);
  });

  it('breaking the JSON representation rules (json.html) gives 400: duplicate, empty or null properties', async () => {
    await rejectsAll(400, [
      ['duplicate property', 'POST', '/fhir/Patient', '{"resourceType":"Patient","active":true,"active":false}'],
      ['duplicate nested property', 'POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"A","family":"B"}]}'],
      ['duplicate resourceType', 'POST', '/fhir/Patient', '{"resourceType":"Patient","resourceType":"Patient"}'],
      ['empty object', 'POST', '/fhir/Patient', P({ name: [{}] })],
      ['empty complex element', 'POST', '/fhir/Patient', P({ maritalStatus: {} })],
      ['empty array', 'POST', '/fhir/Patient', P({ name: [] })],
      ['empty string', 'POST', '/fhir/Patient', P({ name: [{ family: '' }] })],
      ['null in a non-repeating element', 'POST', '/fhir/Patient', P({ gender: null })],
      ['null in an array of objects', 'POST', '/fhir/Patient', P({ name: [null] })],
    ]);
  });

  it('an integer outside the 32-bit range gives 400', async () => {
    await rejectsAll(400, [
      ['2^31', 'POST', '/fhir/Patient', P({ multipleBirthInteger: 2147483648 })],
      ['-2^31-1', 'POST', '/fhir/Patient', P({ multipleBirthInteger: -2147483649 })],
    ]);
  });

  it('an unknown element gives 400', async () => {
    await rejectsAll(400, [
      ['top level', 'POST', '/fhir/Patient', P({ favouriteColour: 'blue' })],
      ['wrong case', 'POST', '/fhir/Patient', P({ Active: true })],
      ['nested', 'POST', '/fhir/Patient', P({ name: [{ family: 'Jansen', nickname: 'AJ' }] })],
      ['in meta', 'POST', '/fhir/Patient', P({ meta: { colour: 'red' } })],
      ['unknown choice type', 'POST', '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueFoo: 1 }],
      ['choice type not allowed here', 'POST', '/fhir/Patient', P({ deceasedString: 'yes' })],
      ['bare choice name', 'POST', '/fhir/Patient', P({ deceased: true })],
      ['element of another type', 'POST', '/fhir/Patient', P({ status: 'final' })],
      ['unknown contained type', 'POST', '/fhir/Patient', P({ contained: [{ resourceType: 'Foo', id: 'f' }] })],
      ['in a contained resource', 'POST', '/fhir/Patient', P({ contained: [{ resourceType: 'Organization', id: 'o', colour: 'red' }] })],
      ['PUT nested unknown', 'PUT', '/fhir/Patient/existing', P({ id: 'existing', name: [{ nickname: 'x' }] })],
    ]);
  });

  it('a primitive value that breaks its type\'s format gives 400', async () => {
    await rejectsAll(400, [
      ['birthDate not a date', 'POST', '/fhir/Patient', P({ birthDate: 'yesterday' })],
      ['birthDate month 13', 'POST', '/fhir/Patient', P({ birthDate: '1970-13-01' })],
      ['gender not in the required code list', 'POST', '/fhir/Patient', P({ gender: 'woman' })],
      ['deceasedDateTime not a dateTime', 'POST', '/fhir/Patient', P({ deceasedDateTime: '2020-01-01 10:00' })],
      ['string with an escaped NUL (below U+0020)', 'POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}'],
      ['string with an escaped U+0001', 'POST', '/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"a\\u0001b"}]}'],
    ]);
  });
});

describe('unknown resource types in the URL give 404', () => {
  it('GET, POST, PUT, DELETE, PATCH and history on Foo, patient, Resource, DomainResource, HumanName', async () => {
    await rejectsAll(404, [
      ['GET Foo', 'GET', '/fhir/Foo/1'],
      ['POST Foo', 'POST', '/fhir/Foo', { resourceType: 'Foo' }],
      ['PUT Foo', 'PUT', '/fhir/Foo/1', { resourceType: 'Foo', id: '1' }],
      ['DELETE Foo', 'DELETE', '/fhir/Foo/1'],
      ['PATCH Foo', 'PATCH', '/fhir/Foo/1', '[]', { 'content-type': 'application/json-patch+json' }],
      ['vread Foo', 'GET', '/fhir/Foo/1/_history/1'],
      ['lower-case type', 'GET', '/fhir/patient/existing'],
      ['POST lower-case type', 'POST', '/fhir/patient', { resourceType: 'patient' }],
      ['abstract Resource', 'GET', '/fhir/Resource/1'],
      ['abstract DomainResource', 'POST', '/fhir/DomainResource', { resourceType: 'DomainResource' }],
      ['data type', 'GET', '/fhir/HumanName/1'],
    ]);
  });
});

describe('unsupported methods give 405', () => {
  it('on metadata, on an instance, and on a version; with an Allow header', async () => {
    const before = await versionsStored();
    for (const [method, path, body] of [
      ['DELETE', '/fhir/metadata'],
      ['PUT', '/fhir/metadata', { resourceType: 'CapabilityStatement' }],
      ['POST', '/fhir/Patient/existing', P({ id: 'existing' })],
      ['PUT', '/fhir/Patient/existing/_history/1', P({ id: 'existing' })],
      ['DELETE', '/fhir/Patient/existing/_history/1'],
      ['POST', '/fhir/Patient/existing/_history', P({})],
    ]) {
      const res = await send(srv, method, path, body);
      assertOutcome(res, 405, `${method} ${path}`);
      assert.ok(res.headers.allow, `${method} ${path}: a 405 response MUST carry an Allow header (RFC 9110 15.5.6)`);
      assert.ok(!res.headers.allow.split(/\s*,\s*/).includes(method), `Allow (${res.headers.allow}) lists the refused ${method}`);
    }
    assert.equal(await versionsStored(), before);
  });
});

describe('conditional create/update/delete, declared unsupported in the CapabilityStatement', () => {
  let patientCaps;
  before(async () => {
    const cs = await fhir.capabilityStatement();
    patientCaps = cs.rest[0].resource.find((r) => r.type === 'Patient');
  });

  it('If-None-Exist on create is refused (412 per R4, 400 per R5) with an OperationOutcome and creates nothing (http.html#ccreate)', async (t) => {
    if (patientCaps.conditionalCreate) { t.skip('conditional create is declared supported'); return; }
    await rejectsAll([412, 400], [
      ['If-None-Exist', 'POST', '/fhir/Patient', P({ identifier: [{ system: 'http://example.org/mrn', value: '1' }] }), { 'If-None-Exist': 'identifier=http://example.org/mrn|1' }],
    ]);
  });

  it('PUT [type]?criteria gives 400 with an OperationOutcome and stores nothing (http.html#cond-update)', async (t) => {
    if (patientCaps.conditionalUpdate) { t.skip('conditional update is declared supported'); return; }
    await rejectsAll(400, [
      ['conditional update', 'PUT', '/fhir/Patient?identifier=http://example.org/mrn|1', P({ active: true })],
      ['conditional update, id in body', 'PUT', '/fhir/Patient?_id=existing', P({ id: 'existing', active: false })],
    ]);
  });

  it('DELETE [type]?criteria gives 400 with an OperationOutcome and deletes nothing (http.html#cdelete)', async (t) => {
    if (patientCaps.conditionalDelete && patientCaps.conditionalDelete !== 'not-supported') { t.skip('conditional delete is declared supported'); return; }
    await rejectsAll(400, [
      ['conditional delete', 'DELETE', '/fhir/Patient?identifier=http://example.org/mrn|1'],
      ['conditional delete by _id', 'DELETE', '/fhir/Patient?_id=existing'],
    ]);
  });

  it('DELETE [type] without criteria is refused (400 or 405) and deletes nothing', async () => {
    await rejectsAll([400, 405], [['delete of the whole type', 'DELETE', '/fhir/Patient']]);
  });
});

describe('search values that are not UTF-8', () => {
  // a search value is text: bytes that are not UTF-8 are a malformed request
  // (400), on every path that takes search parameters and on both engines
  // (PostgreSQL would refuse them as text; SQLite would quietly not match)
  it('get 400 with an OperationOutcome and store nothing', async () => {
    await rejectsAll(400, [
      ['token', 'GET', '/fhir/Patient?identifier=%FF'],
      ['_id', 'GET', '/fhir/Patient?_id=%C3'],
      ['string', 'GET', '/fhir/Patient?family=%ED%A0%80'],
      ['overlong', 'GET', '/fhir/Patient?family=%C0%AF'],
      ['parameter name', 'GET', '/fhir/Patient?%FF=1'],
      ['POST _search form', 'POST', '/fhir/Patient/_search', 'identifier=%FE', { 'Content-Type': 'application/x-www-form-urlencoded' }],
      ['conditional create', 'POST', '/fhir/Patient', { resourceType: 'Patient' }, { 'If-None-Exist': 'identifier=%FF' }],
      ['conditional update', 'PUT', '/fhir/Patient?identifier=%FF', { resourceType: 'Patient' }],
      ['conditional delete', 'DELETE', '/fhir/Patient?identifier=%FF'],
    ]);
    const ok = await send(srv, 'GET', '/fhir/Patient?family=%C3%A9');
    assert.equal(ok.status, 200, 'well-formed UTF-8 is searched as usual');
  });
});

describe('never a 5xx', () => {
  it('odd URLs, headers and parameters get a 4xx (or a normal answer), and the server stays up', async () => {
    const cases = [
      ['GET', '/'],
      ['GET', '/fhir'],
      ['GET', '/fhir/'],
      ['GET', '/nothing/here'],
      ['GET', '/fhir/Patient/existing/extra/segments/here'],
      ['GET', '/fhir/Patient/existing/_history/1/more'],
      ['GET', '/fhir/Patient/existing/_history/notanumber'],
      ['GET', '/fhir/Patient/existing/_history/'],
      ['GET', '/fhir/../../etc/passwd'],
      ['GET', '/fhir/Patient/%00'],
      ['GET', '/fhir/Patient/%zz'],
      ['GET', `/fhir/Patient/${'x'.repeat(5000)}`],
      ['GET', `/fhir/Patient/existing?${'a=b&'.repeat(3000)}`],
      ['GET', '/fhir/Patient/existing?_format=%00'],
      ['GET', '/fhir/_history?_count=99999999999999999999999'],
      ['GET', '/fhir/Patient/existing', undefined, { 'If-None-Match': 'garbage' }],
      ['GET', '/fhir/Patient/existing', undefined, { 'If-Modified-Since': 'not a date' }],
      ['GET', '/fhir/Patient/existing', undefined, { Accept: '*/*;q=nonsense,,,;' }],
      ['PUT', '/fhir/Patient/existing', P({ id: 'existing' }), { 'If-Match': 'garbage' }],
      ['PUT', '/fhir/Patient/existing', P({ id: 'existing' }), { 'If-Match': 'W/""' }],
      ['POST', '/fhir/Patient', P({}), { Prefer: 'return=whatever; handling=strict' }],
      ['POST', '/fhir/Patient', P({}), { 'content-type': 'application/fhir+json; charset=latin-1-nonsense' }],
      ['POST', '/fhir/_history', P({})],
      ['PATCH', '/fhir/Patient/existing', '[]', { 'content-type': 'application/json-patch+json', 'If-Match': 'W/"abc"' }],
    ];
    const problems = [];
    for (const [method, path, body, headers] of cases) {
      const label = `${method} ${path.slice(0, 60)}${path.length > 60 ? `... (${path.length} chars)` : ''}${headers ? ` ${JSON.stringify(headers).slice(0, 80)}` : ''}`;
      try {
        const res = await send(srv, method, path, body, headers, { timeout: 10000 });
        assertNot5xx(res, label);
        // under the FHIR base every error is an OperationOutcome
        if (res.status >= 400 && path.startsWith('/fhir')) assertOutcome(res, res.status, label);
      } catch (e) {
        problems.push(`${label}: ${e.message.split('\n')[0]}`);
      }
    }
    assert.equal(problems.length, 0, `${problems.length} of ${cases.length} requests mishandled:\n  ${problems.join('\n  ')}`);
    assert.equal((await send(srv, 'GET', '/fhir/metadata')).status, 200);
  });

  it('a request header block of 64 KiB is refused without a crash', async () => {
    let res;
    try {
      res = await send(srv, 'GET', '/fhir/Patient/existing', undefined, { 'X-Big': 'y'.repeat(65536) });
    } catch {
      res = null; // closing the connection is an acceptable answer too
    }
    if (res) assertNot5xx(res, 'huge header');
    assert.equal((await send(srv, 'GET', '/fhir/metadata')).status, 200);
  });

  it('an empty JSON Patch document is a no-op or a 4xx, never a 5xx', async () => {
    const res = await send(srv, 'PATCH', '/fhir/Patient/existing', '[]', { 'content-type': 'application/json-patch+json' });
    assertNot5xx(res, 'empty patch');
  });
});

describe('PUT without If-Match on an existing id, and a fresh id, still work after all that', () => {
  it('the store is consistent', async () => {
    const id = newId('after');
    const res = await send(srv, 'PUT', `/fhir/Patient/${id}`, P({ id }));
    assert.equal(res.status, 201);
    const read = await fhir.read({ resourceType: 'Patient', id });
    assert.equal(read.id, id);
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});
