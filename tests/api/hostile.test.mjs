// Hostile and malformed input (issue 10, item 3): a deterministic (seeded)
// corpus of more than 10,000 bad requests, sent to one running server over
// several connections at once, and raw sockets for abuse of HTTP itself.
// Every answer is checked: a 4xx with an OperationOutcome (FHIR JSON), or for
// transport-level abuse a 4xx or a closed connection; never a 5xx, never a
// hang (each case has its own timeout), the process alive after each
// category, and at the end the store unchanged: every version in the
// system-level history and every current resource read, fingerprinted before
// and after (some real data is seeded first, so "unchanged" means something;
// the audit trail grows, as it must). Under ASan the server's stderr is
// checked for sanitizer reports when it stops (lib/server.mjs).
//
// Categories (see docs/robustness.md): broken-json, deep-nesting,
// huge-values, invalid-utf8, nul-bytes, wrong-types (every element of real
// resources replaced in turn by each other JSON type), oversized (headers and
// bodies), slow-loris, request-line (malformed HTTP, random bytes, raw
// sockets), percent-encoding, injection (SQL and FHIRPath in search
// parameters), path-traversal (ids, types, operation names, Bundle urls),
// invalid-bundles (cycles, thousands of entries, broken structure).
//
// HOSTILE_SEED=<n> picks another corpus of the same shape (default fixed).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startServer, EXAMPLES_DIR } from './lib/server.mjs';

const SEED = Number(process.env.HOSTILE_SEED || 20261123);
const MAX_BODY = 4 << 20; // large enough for 100,000 levels of nesting to reach the parser
const MAX_ENTRIES = 3000;
const IDLE_TIMEOUT = 2; // seconds: slow-loris connections are cut after this
const CASE_TIMEOUT_MS = 15000;
const PARALLEL = 8;

// ---- a seeded PRNG (mulberry32), so the corpus is the same every run ----
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[Math.floor(next() * arr.length)];
  return next;
}

// ---- the resources the corpus is built from ----
// Official R4 examples when $BRON_SHARED has them, else built-in ones.
const BUILTIN = [
  { resourceType: 'Patient', id: 'h1', active: true, name: [{ use: 'official', family: 'Jansen', given: ['Piet', 'Karel'] }], telecom: [{ system: 'phone', value: '+31 20 123 4567' }], gender: 'male', birthDate: '1970-03-04', address: [{ line: ['Dorpsstraat 1'], city: 'Utrecht', postalCode: '3511 AA', country: 'NL' }], managingOrganization: { reference: 'Organization/o1' }, multipleBirthInteger: 2, extension: [{ url: 'http://example.org/ext', valueDecimal: 1.5 }] },
  { resourceType: 'Observation', id: 'h2', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }], code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] }, subject: { reference: 'Patient/h1' }, effectiveDateTime: '2020-01-01T10:00:00Z', valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' }, component: [{ code: { text: 'x' }, valueBoolean: true }] },
  { resourceType: 'Encounter', id: 'h3', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: 'Patient/h1' }, period: { start: '2020-01-01', end: '2020-01-02' }, length: { value: 1, unit: 'd' } },
];
function loadResources() {
  const chosen = [];
  if (fs.existsSync(EXAMPLES_DIR)) {
    const want = ['Patient-example.json', 'Observation-example.json', 'Observation-bloodpressure.json', 'Encounter-example.json', 'Condition-example.json', 'MedicationRequest-medrx0302.json', 'Practitioner-example.json', 'Organization-hl7.json', 'AllergyIntolerance-example.json', 'Procedure-example.json', 'Immunization-example.json', 'DiagnosticReport-ghp.json', 'Questionnaire-qs1.json', 'CarePlan-example.json', 'Claim-example.json', 'Composition-example.json'];
    for (const f of want) {
      const p = path.join(EXAMPLES_DIR, f);
      if (fs.existsSync(p)) chosen.push(JSON.parse(fs.readFileSync(p, 'utf8')));
    }
  }
  if (!chosen.length) {
    console.log(`hostile: no official examples at ${EXAMPLES_DIR}; using the built-in resources`);
  }
  return [...chosen, ...BUILTIN];
}

// ---- the corpus ----
// A case: { cat, label, method, path, headers, body } sent with node:http, or
// { cat, label, raw: Buffer|string, transport: true } written to a socket.
// expect: 'outcome' (4xx OperationOutcome), 'transport' (4xx or closed),
// 'no-match' (4xx OperationOutcome, or 200 searchset without entries: an
// injection attempt in a string value is data, and must find nothing).
const JSON_CT = { 'content-type': 'application/fhir+json' };

function strictJsonInvalid(text) {
  try { JSON.parse(text); return false; } catch { return true; }
}

/** Every position in a JSON tree: [pathArray, value]. */
function positions(v, p = [], out = []) {
  if (p.length) out.push([p, v]);
  if (Array.isArray(v)) v.forEach((x, i) => positions(x, [...p, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) positions(v[k], [...p, k], out);
  return out;
}
function setAt(root, p, value) {
  const copy = structuredClone(root);
  let o = copy;
  for (let i = 0; i < p.length - 1; i++) o = o[p[i]];
  o[p[p.length - 1]] = value;
  return copy;
}
/** JSON values of a type other than v's; for an array of objects also its
 * first object alone, for an object an array holding it (shapes FHIR JSON
 * forbids as well). */
function wrongTypes(v) {
  const all = { string: 'x', number: 42, boolean: true, null: null, object: { a: 1 }, array: [1] };
  const t = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  const out = Object.entries(all).filter(([k]) => k !== t).map(([, x]) => x);
  if (t === 'array' && v.length && v[0] && typeof v[0] === 'object' && !Array.isArray(v[0])) out.push(v[0]);
  if (t === 'object') out.push([v]);
  return out;
}

function buildCorpus(resources, token) {
  const R = rng(SEED);
  const cases = [];
  const add = (cat, c) => cases.push({ cat, expect: 'outcome', headers: {}, ...c });
  const auth = `Authorization: Bearer ${token}\r\n`;
  const rawReq = (method, target, headers = '', body = '') =>
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\n${headers}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`;
  const texts = resources.map((r) => ({ r, text: JSON.stringify(r), type: r.resourceType }));
  const createPath = (r) => `/fhir/${r.resourceType}`;
  const updatePath = (r) => `/fhir/${r.resourceType}/${r.id || 'hostile-x'}`;
  const endpoint = (r, i) => (i % 3 === 2 ? ['PUT', updatePath(r)] : ['POST', createPath(r)]);

  // -- broken-json: truncations, structural damage, not-an-object, duplicate keys
  for (const { r, text } of texts) {
    for (let k = 0; k < 40; k++) {
      const cut = 1 + R.int(text.length - 1);
      const [method, p] = endpoint(r, k);
      add('broken-json', { label: `truncated at ${cut}`, method, path: p, headers: JSON_CT, body: text.slice(0, cut) });
    }
    // delete, duplicate or swap one structural character outside strings
    const structural = [];
    let inStr = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inStr) { if (ch === '\\') i++; else if (ch === '"') inStr = false; continue; }
      if (ch === '"') inStr = true;
      if ('{}[]:,"'.includes(ch)) structural.push(i);
    }
    for (let k = 0; k < 40; k++) {
      const at = R.pick(structural);
      const op = R.int(3);
      const ins = R.pick(['{', '}', '[', ']', ':', ',', '"', '\\', 'x', "'", '/*', 'NaN', 'undefined']);
      const body = op === 0 ? text.slice(0, at) + text.slice(at + 1) : op === 1 ? text.slice(0, at) + ins + text.slice(at) : text.slice(0, at) + ins + text.slice(at + 1);
      if (!strictJsonInvalid(body)) continue;
      const [method, p] = endpoint(r, k);
      add('broken-json', { label: `damaged at ${at} (${op}, ${ins})`, method, path: p, headers: JSON_CT, body });
    }
    // a duplicate key: valid for most JSON parsers, ambiguous for FHIR
    add('broken-json', { label: 'duplicate key', method: 'POST', path: createPath(r), headers: JSON_CT, body: `{"resourceType":"${r.resourceType}","id":"a","id":"b"}` });
  }
  for (const body of ['', ' ', '\n\n', '[]', '[{}]', '1', '-0', '"Patient"', 'null', 'true', '{}', '{"resourceType":null}', '{"resourceType":1}', '{"resourceType":"NoSuchType"}', '{"resourceType":""}', '\ufeff{"resourceType":"Patient"}', '{"resourceType":"Patient"} x', '{"resourceType":"Patient"}{}', "{'resourceType':'Patient'}", '{"resourceType":"Patient",}', '{"resourceType":"Patient","active":tru}', '{"resourceType":"Patient","active":01}', '{"resourceType":"Patient","multipleBirthInteger":1e999}', '{"resourceType":"Patient","multipleBirthInteger":-}', '{"resourceType":"Patient","name":[{"family":"\\x41"}]}', '{"resourceType":"Patient","name":[{"family":"\\u12"}]}', '<Patient xmlns="http://hl7.org/fhir"/>', 'resourceType=Patient']) {
    for (const [method, p] of [['POST', '/fhir/Patient'], ['PUT', '/fhir/Patient/hostile-b'], ['POST', '/fhir'], ['PATCH', '/fhir/Patient/seed-p1'], ['POST', '/fhir/Patient/_search?_id=x,']]) {
      if (p.includes('_search') && body.trim() === '') continue; // an empty _search body is a valid search
      if (method === 'PATCH' && body === '[]') continue; // an empty JSON Patch is a valid one
      add('broken-json', { label: `body ${JSON.stringify(body).slice(0, 40)}`, method, path: p, headers: method === 'PATCH' ? { 'content-type': 'application/json-patch+json' } : p.includes('_search') ? { 'content-type': 'application/x-www-form-urlencoded' } : JSON_CT, body: p.includes('_search') ? `_id=%zz${body.length}` : body });
    }
  }

  // -- deep-nesting: 100,000 levels (and others) of arrays, objects, mixed,
  // in every place a body is parsed; deep FHIR structures that are invalid at
  // the bottom, so the validator walks down all of it
  const deepForms = {
    arrays: (d) => `${'['.repeat(d)}${']'.repeat(d)}`,
    objects: (d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`,
    mixed: (d) => `${'[{"a":'.repeat(d / 2)}1${'}]'.repeat(d / 2)}`,
    unclosed: (d) => '['.repeat(d),
  };
  for (const depth of [100000, 50000, 5000, 2049, 2000, 1000]) {
    for (const [form, make] of Object.entries(deepForms)) {
      const v = make(depth);
      add('deep-nesting', { label: `${form} ${depth} as body`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: v });
      add('deep-nesting', { label: `${form} ${depth} in extension`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","extension":[{"url":"http://x","valueString":${v}}]}` });
      add('deep-nesting', { label: `${form} ${depth} in a PUT`, method: 'PUT', path: '/fhir/Patient/hostile-deep', headers: JSON_CT, body: `{"resourceType":"Patient","id":"hostile-deep","name":${v}}` });
      add('deep-nesting', { label: `${form} ${depth} in a transaction`, method: 'POST', path: '/fhir', headers: JSON_CT, body: `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Basic","code":${v}},"request":{"method":"POST","url":"Basic"}}]}` });
      add('deep-nesting', { label: `${form} ${depth} in a JSON Patch`, method: 'PATCH', path: '/fhir/Patient/seed-p1', headers: { 'content-type': 'application/json-patch+json' }, body: `[{"op":"add","path":"/extension","value":${v}}]` });
      add('deep-nesting', { label: `${form} ${depth} in contained`, method: 'POST', path: '/fhir/Observation', headers: JSON_CT, body: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[${v}]}` });
      add('deep-nesting', { label: `${form} ${depth} in $import`, method: 'POST', path: '/fhir/$import', headers: { 'content-type': 'application/fhir+ndjson' }, body: `${v}\n` });
    }
  }
  // deep FHIR: extension in extension, Questionnaire items, Bundle in Bundle, with a bad leaf
  for (const depth of [100000, 20000, 3000, 1500, 500]) {
    const ext = `${'{"url":"http://x","extension":['.repeat(depth)}{"url":"http://x","valueInteger":"bad"}${']}'.repeat(depth)}`;
    add('deep-nesting', { label: `extension nested ${depth}`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","extension":[${ext}]}` });
    const item = `${'{"linkId":"a","type":"group","item":['.repeat(depth)}{"linkId":1,"type":"string"}${']}'.repeat(depth)}`;
    add('deep-nesting', { label: `Questionnaire.item nested ${depth}`, method: 'POST', path: '/fhir/Questionnaire', headers: JSON_CT, body: `{"resourceType":"Questionnaire","status":"draft","item":[${item}]}` });
    const bundles = `${'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'.repeat(depth)}{"resourceType":"Patient","active":"no"}${'}]}'.repeat(depth)}`;
    add('deep-nesting', { label: `Bundle in Bundle ${depth}`, method: 'POST', path: '/fhir/Bundle', headers: JSON_CT, body: bundles });
  }
  // deep search: chains and _has nested far beyond the limit
  // strict: 400 too-costly; lenient (the default): the parameter is ignored
  // with a warning in the searchset's OperationOutcome
  for (const depth of [5, 50, 500]) {
    for (const [mode, expect] of [['strict', 'outcome'], ['lenient', 'warned']]) {
      const headers = { prefer: `handling=${mode}` };
      add('deep-nesting', { label: `chain ${depth} ${mode}`, method: 'GET', path: `/fhir/Observation?subject.organization${'.partof'.repeat(depth)}.name=x`, headers, expect });
      add('deep-nesting', { label: `_has ${depth} ${mode}`, method: 'GET', path: `/fhir/Patient?${'_has:Observation:subject:'.repeat(depth)}code=x`, headers, expect });
      add('deep-nesting', { label: `chain with types ${depth} ${mode}`, method: 'GET', path: `/fhir/Observation?${'subject:Patient.link:Patient.'.repeat(Math.min(depth, 60))}name=x`, headers, expect });
    }
  }

  // -- huge-values: strings, arrays, keys, numbers, in places where they are wrong
  const big = (n, ch = 'a') => ch.repeat(n);
  for (const n of [70000, 1 << 20, 3 << 20]) {
    add('huge-values', { label: `resourceType of ${n}`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"${big(n, 'P')}"}` });
    add('huge-values', { label: `id of ${n}`, method: 'PUT', path: '/fhir/Patient/hostile-h', headers: JSON_CT, body: `{"resourceType":"Patient","id":"${big(n)}"}` });
    add('huge-values', { label: `unknown key of ${n}`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","${big(n, 'k')}":1}` });
    add('huge-values', { label: `date of ${n}`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","birthDate":"${big(n, '9')}"}` });
    add('huge-values', { label: `code of ${n}`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","gender":"${big(n, ' ')}"}` });
    add('huge-values', { label: `integer of ${n} digits`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","multipleBirthInteger":${big(n, '9')}}` });
    add('huge-values', { label: `decimal of ${n} digits`, method: 'POST', path: '/fhir/Observation', headers: JSON_CT, body: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.${big(n, '1')}e99999}}` });
    add('huge-values', { label: `base64 of ${n}`, method: 'POST', path: '/fhir/Binary', headers: JSON_CT, body: `{"resourceType":"Binary","contentType":"text/plain","data":"${big(n, '!')}"}` });
    const k = Math.floor(n / 4);
    add('huge-values', { label: `array of ${k} numbers`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","name":[${Array(k).fill('1').join(',')}]}` });
    add('huge-values', { label: `array of ${k} nulls`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","telecom":[${Array(k).fill('null').join(',')}]}` });
    add('huge-values', { label: `array of ${k} empty objects`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","telecom":[${Array(Math.floor(k / 2)).fill('{}').join(',')}]}` });
    add('huge-values', { label: `${k / 8} distinct unknown keys`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient",${Array.from({ length: Math.floor(k / 8) }, (_, i) => `"k${i}":1`).join(',')}}` });
    add('huge-values', { label: `given of ${k} strings with one number`, method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","name":[{"given":[${Array(Math.floor(k / 4)).fill('"g"').join(',')},7]}]}` });
  }
  for (const n of [9000, 60000]) {
    // over 8 KiB the server answers 414; past the connection's buffer MHD
    // itself does (414 or 431, without an OperationOutcome): transport level
    const expect = n > 32768 ? 'any4xx' : 'outcome';
    add('huge-values', { label: `URL id of ${n}`, method: 'GET', path: `/fhir/Patient/${big(n)}`, expect });
    add('huge-values', { label: `search value of ${n}`, method: 'GET', path: `/fhir/Patient?name=${big(n)}`, expect });
    add('huge-values', { label: `${n / 10} parameters`, method: 'GET', path: `/fhir/Patient?${Array.from({ length: n / 10 }, (_, i) => `a${i}=1`).join('&').slice(0, n)}`, expect });
  }
  add('huge-values', { label: '300 parameters', method: 'GET', path: `/fhir/Patient?${Array.from({ length: 300 }, () => 'name=x').join('&')}` });
  for (const [mode, expect] of [['strict', 'outcome'], ['lenient', 'warned']]) {
    const headers = { prefer: `handling=${mode}` };
    add('huge-values', { label: `101 OR values ${mode}`, method: 'GET', path: `/fhir/Patient?name=${Array(101).fill('x').join(',')}`, headers, expect });
    add('huge-values', { label: `search value over 1000 ${mode}`, method: 'GET', path: `/fhir/Patient?birthdate=${big(5000, '1')}`, headers, expect });
    add('huge-values', { label: `_count huge ${mode}`, method: 'GET', path: '/fhir/Patient?_count=99999999999999999999999', headers, expect });
    add('huge-values', { label: `9 sort keys ${mode}`, method: 'GET', path: `/fhir/Patient?_sort=${Array(9).fill('name').join(',')}`, headers, expect });
  }

  // -- invalid-utf8 in bodies (and lone surrogates as escapes)
  const badSeqs = [[0xc0, 0xaf], [0xff], [0xfe, 0xff], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xc3], [0xe0, 0x80, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc1, 0xbf], [0xf0, 0x8f, 0xbf, 0xbf]];
  for (const { r, text } of texts) {
    const strs = [...text.matchAll(/"[^"\\]{3,}"/g)].map((m) => m.index);
    for (const seq of badSeqs) {
      for (let k = 0; k < 3; k++) {
        const at = strs.length ? R.pick(strs) + 1 : 2;
        const body = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(seq), Buffer.from(text.slice(at))]);
        const [method, p] = endpoint(r, k);
        add('invalid-utf8', { label: `bytes ${Buffer.from(seq).toString('hex')} at ${at}`, method, path: p, headers: JSON_CT, body });
      }
    }
    for (const esc of ['\\ud800', '\\udfff', '\\ud800\\u0041', '\\udc00\\ud800']) {
      const at = strs.length ? R.pick(strs) + 1 : 2;
      add('invalid-utf8', { label: `escape ${esc}`, method: 'POST', path: createPath(r), headers: JSON_CT, body: text.slice(0, at) + esc + text.slice(at) });
    }
  }
  for (const seq of badSeqs) {
    const hex = Buffer.from(seq).toString('hex');
    const pct = seq.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    add('invalid-utf8', { label: `path ${hex}`, method: 'GET', path: `/fhir/Patient/a${pct}b` });
    add('invalid-utf8', { label: `query ${hex}`, method: 'GET', path: `/fhir/Patient?name=a${pct}b` });
    add('invalid-utf8', { label: `param name ${hex}`, method: 'GET', path: `/fhir/Patient?na${pct}me=x` });
    add('invalid-utf8', { label: `raw path ${hex}`, transport: true, raw: Buffer.concat([Buffer.from('GET /fhir/Patient/a'), Buffer.from(seq), Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\n\r\n`)]) });
    add('invalid-utf8', { label: `header value ${hex}`, transport: true, raw: Buffer.concat([Buffer.from(`GET /fhir/NoSuchType HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\nX-Bad: a`), Buffer.from(seq), Buffer.from('\r\n\r\n')]) });
    add('invalid-utf8', { label: `form body ${hex}`, method: 'POST', path: '/fhir/Patient/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.concat([Buffer.from('name='), Buffer.from(seq)]) });
  }

  // -- nul-bytes: raw NULs and \u0000 in bodies, %00 in URLs, NUL in the head
  for (const { r, text } of texts) {
    const strs = [...text.matchAll(/"[^"\\]{2,}"/g)].map((m) => m.index);
    for (let k = 0; k < 6; k++) {
      const at = strs.length ? R.pick(strs) + 1 : 2;
      const [method, p] = endpoint(r, k);
      add('nul-bytes', { label: `raw NUL at ${at}`, method, path: p, headers: JSON_CT, body: Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0]), Buffer.from(text.slice(at))]) });
      add('nul-bytes', { label: `\\u0000 at ${at}`, method, path: p, headers: JSON_CT, body: `${text.slice(0, at)}\\u0000${text.slice(at)}` });
    }
    add('nul-bytes', { label: 'NUL before the body', method: 'POST', path: createPath(r), headers: JSON_CT, body: Buffer.concat([Buffer.from([0]), Buffer.from(text)]) });
    add('nul-bytes', { label: 'NUL after the body', method: 'POST', path: createPath(r), headers: JSON_CT, body: Buffer.concat([Buffer.from(text), Buffer.from([0])]) });
  }
  for (const p of ['/fhir/Patient/seed-p1%00', '/fhir/Patient/%00', '/fhir/Pat%00ient', '/fhir/Patient?name=a%00b', '/fhir/Patient?_id=seed-p1%00x', '/fhir/Patient?na%00me=x', '/fhir/Patient/seed-p1/_history/1%00', '/fhir/%00', '/fhir/Patient?_sort=name%00', '/fhir/Patient?_include=Patient:organization%00']) {
    add('nul-bytes', { label: `URL ${p}`, method: 'GET', path: p });
    add('nul-bytes', { label: `DELETE ${p}`, method: 'DELETE', path: p });
  }
  for (const where of ['method', 'target', 'version', 'header name', 'header value', 'host']) {
    const raw = {
      method: `GE\0T /fhir/NoSuchType HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
      target: `GET /fhir/Patient/a\0b HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
      version: `GET /fhir/NoSuchType HTTP/1.\x001\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
      'header name': `GET /fhir/NoSuchType HTTP/1.1\r\nHost: x\r\n${auth}X-B\0ad: 1\r\nConnection: close\r\n\r\n`,
      'header value': `GET /fhir/NoSuchType HTTP/1.1\r\nHost: x\r\n${auth}X-Bad: a\0b\r\nConnection: close\r\n\r\n`,
      host: `GET /fhir/NoSuchType HTTP/1.1\r\nHost: x\0y\r\n${auth}Connection: close\r\n\r\n`,
    }[where];
    add('nul-bytes', { label: `NUL in the ${where}`, transport: true, raw });
  }

  // -- wrong-types: each element of each resource, in turn, replaced by every other JSON type
  for (const { r } of texts) {
    const pos = positions(r);
    for (const [p, v] of pos) {
      for (const w of wrongTypes(v)) {
        if (p.length === 1 && p[0] === 'resourceType' && typeof w === 'string') continue;
        const body = JSON.stringify(setAt(r, p, w));
        const [method, ep] = endpoint(r, cases.length);
        add('wrong-types', { label: `${p.join('.')} := ${JSON.stringify(w).slice(0, 20)}`, method, path: ep, headers: JSON_CT, body });
      }
    }
  }

  // -- oversized headers and bodies, framing of the body (raw sockets)
  for (const n of [9000, 60000, 200000, 2 << 20]) {
    add('oversized', { label: `one header of ${n}`, transport: true, raw: rawReq('GET', '/fhir/NoSuchType', `X-Big: ${big(n)}\r\n`) });
    add('oversized', { label: `header name of ${n}`, transport: true, raw: rawReq('GET', '/fhir/NoSuchType', `X-${big(n)}: 1\r\n`) });
    add('oversized', { label: `request target of ${n}`, transport: true, raw: rawReq('GET', `/fhir/Patient?name=${big(n)}`) });
    add('oversized', { label: `cookie of ${n}`, transport: true, raw: rawReq('GET', '/fhir/NoSuchType', `Cookie: ${big(n, 'c')}\r\n`) });
  }
  for (const n of [1000, 5000, 20000]) {
    add('oversized', { label: `${n} headers`, transport: true, raw: rawReq('GET', '/fhir/NoSuchType', Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')) });
  }
  for (const n of [MAX_BODY + 1, MAX_BODY * 2, 100 << 20]) {
    add('oversized', { label: `announced body of ${n}`, transport: true, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n{"resourceType":"Patient"` });
  }
  add('oversized', { label: 'sent body over the limit', method: 'POST', path: '/fhir/Patient', headers: JSON_CT, body: `{"resourceType":"Patient","name":[{"family":"${big(MAX_BODY + 10)}"}]}` });
  add('oversized', { label: 'chunked body over the limit', method: 'POST', path: '/fhir/Patient', headers: { ...JSON_CT, 'transfer-encoding': 'chunked' }, body: [Buffer.from('{"resourceType":"Patient","x":"'), ...Array(9).fill(Buffer.alloc(MAX_BODY / 8, 'a')), Buffer.from('"}')] });
  add('oversized', { label: 'sent Bundle over the limit', method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 40000 }, (_, i) => ({ resource: { resourceType: 'Basic', code: { text: `over ${i}` } }, request: { method: 'POST', url: 'Basic' } })) }) });
  for (const cl of ['-1', 'abc', '99999999999999999999999999', '1, 2', '0x10', '+5', ' ']) {
    add('oversized', { label: `Content-Length ${cl}`, transport: true, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nContent-Length: ${cl}\r\nConnection: close\r\n\r\n{"resourceType":"Patient","active":1}` });
  }
  add('oversized', { label: 'two Content-Lengths', transport: true, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nContent-Length: 5\r\nContent-Length: 38\r\nConnection: close\r\n\r\n{"resourceType":"Patient","active":1}` });
  add('oversized', { label: 'Content-Length and chunked', transport: true, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n26\r\n{"resourceType":"Patient","active":1}\r\n0\r\n\r\n` });
  for (const chunk of ['zz', 'ffffffffffffffffffff', '-1', '1;' + big(70000, 'e'), '', '10000000']) {
    add('oversized', { label: `chunk size ${chunk.slice(0, 12)}`, transport: true, mhdChunkLine: chunk.length > 32768, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}\r\n{"resourceType":"Patient","active":1}\r\n0\r\n\r\n` });
  }
  add('oversized', { label: 'Transfer-Encoding gzip', transport: true, raw: `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/fhir+json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n{"resourceType":"Patient","active":1}` });

  // -- slow-loris: connections that start a request and go quiet; each must be cut off
  for (let k = 0; k < 12; k++) {
    const partial = [
      '',
      'G',
      'GET /fhir/metadata HTTP/1.1\r\n',
      'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n',
      `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1000\r\n\r\n{"resource`,
      `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n10\r\n{"resourceType"`,
    ][k % 6];
    add('slow-loris', { label: `quiet after ${JSON.stringify(partial.slice(0, 30))}`, transport: true, slow: true, raw: partial });
  }

  // -- request-line: malformed HTTP, unknown methods, random bytes
  const lines = [
    'BREW /fhir/NoSuchType HTTP/1.1', 'GET /fhir/NoSuchType HTTP/9.9', 'GET /fhir/NoSuchType HTTP/1.1 extra', 'GET /fhir/NoSuchType', 'GET  /fhir/NoSuchType  HTTP/1.1',
    'GET fhir/NoSuchType HTTP/1.1', 'GET http://evil.example/fhir/NoSuchType HTTP/1.1', 'OPTIONS * HTTP/1.1', 'CONNECT 127.0.0.1:22 HTTP/1.1', 'get /fhir/NoSuchType HTTP/1.1',
    'GET /fhir/NoSuchType HTTP/1.1\r\nHost', 'GET /fhir/NoSuchType HTTP/1.1\r\n: value', 'GET /fhir/NoSuchType HTTP/1.1\r\nX-A : 1', 'GET /fhir/NoSuchType HTTP/1.1\r\n continued', 'GET\t/fhir/NoSuchType\tHTTP/1.1',
    'PRI * HTTP/2.0\r\n\r\nSM', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'GET /fhir/NoSuchType HTTP/1.1\nHost: x\n', 'GET /fhir/NoSuchType HTTP/1.1\rHost: x\r', 'GET /fhir/NoSuchType HTTP/0.9',
    'GET /fhir/NoSuchType HTTP/1.1\r\nHost: a\r\nHost: b', 'GET /fhir/NoSuchType HTTP/1.1\r\nExpect: 100-banana', 'GET /fhir/NoSuchType HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade', '\r\n\r\n\r\n', 'GET /fhir/../../../../etc/passwd HTTP/1.1',
  ];
  for (const l of lines) {
    const headers = l.includes('\r\n') || l.includes('\n') ? '' : `\r\nHost: 127.0.0.1\r\n${auth}Connection: close`;
    const version = /HTTP\/(9\.9|2\.0|0\.9)/.test(l);
    add('request-line', { label: JSON.stringify(l.slice(0, 40)), transport: true, version, raw: `${l}${headers}\r\n\r\n` });
    add('request-line', { label: `${JSON.stringify(l.slice(0, 40))} without Host`, transport: true, version, raw: `${l}\r\n${auth}Connection: close\r\n\r\n` });
  }
  for (const m of ['BREW', 'TRACE', 'PROPFIND', 'MKCOL', 'LINK', 'PURGE', 'OPTIONS']) {
    for (const p of ['/fhir/Patient', '/fhir/Patient/seed-p1', '/fhir', '/fhir/metadata', '/fhir/Patient/seed-p1/_history/1', '/fhir/$export']) {
      add('request-line', { label: `${m} ${p}`, method: m, path: p });
    }
  }
  for (const m of ['HEAD']) for (const p of ['/fhir/NoSuchType', '/fhir/Patient/no-such-one']) add('request-line', { label: `${m} ${p}`, transport: true, raw: rawReq(m, p) });
  for (let k = 0; k < 1200; k++) {
    const n = 1 + R.int(k % 10 === 0 ? 6000 : 300);
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bytes[i] = R.int(256);
    // half of them after a plausible start, so the parser gets further in
    // most end the head, so the parser must decide; one in ten leaves it open
    // (those wait for the idle timeout)
    const end = Buffer.from(k % 10 === 3 ? '' : '\r\n\r\n');
    const raw = k % 2 ? Buffer.concat([Buffer.from(R.pick(['GET /fhir/', 'POST /fhir/Patient HTTP/1.1\r\n', `GET /fhir/NoSuchType HTTP/1.1\r\nHost: x\r\n`])), bytes, end]) : Buffer.concat([bytes, end]);
    add('request-line', { label: `random bytes #${k} (${n})`, transport: true, raw });
  }

  // -- percent-encoding: invalid escapes in every part of the URL
  const badPct = ['%', '%4', '%zz', '%G0', '%%', '%%41', '%4g', '%-1', '%+1', '%.', '%\u0041'.slice(0, 2) + 'x', '%c', '%C0%AF', '%FF', '%ED%A0%80', '%F5%80%80%80', '%E2%82'];
  for (const e of badPct) {
    for (const p of [`/fhir/Patient/${e}`, `/fhir/Patient/seed-p1${e}`, `/fhir/Pat${e}ient`, `/fhir/Patient?name=${e}`, `/fhir/Patient?name${e}=x`, `/fhir/Patient?_id=${e}`, `/fhir/Patient?birthdate=ge${e}`, `/fhir/Patient?_sort=${e}`, `/fhir/Patient?_include=Patient:${e}`, `/fhir/Patient/seed-p1/_history/${e}`, `/fhir/$export?_type=${e}`, `/fhir/Patient?_count=1${e}`, `/fhir/Observation?subject=Patient/${e}`, `/fhir/Observation?code=http://loinc.org|${e}`, `/fhir/Patient/seed-p1/$everything?_since=${e}`]) {
      for (const method of ['GET', 'DELETE', 'PUT']) {
        if (method !== 'GET' && p.includes('?')) continue;
        add('percent-encoding', { label: `${method} ${p}`, method, path: p, headers: method === 'PUT' ? JSON_CT : {}, body: method === 'PUT' ? '{"resourceType":"Patient","active":true}' : undefined });
      }
    }
    add('percent-encoding', { label: `form ${e}`, method: 'POST', path: '/fhir/Patient/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${e}` });
  }

  // -- injection: SQL and FHIRPath in search parameter names, values, modifiers, _sort, _include
  const sql = ["' OR '1'='1", "' OR 1=1--", "1; DROP TABLE resource;--", "x' UNION SELECT body FROM resource_version--", "\") OR 1=1 --", "%' OR 'x' LIKE '%", "1)) OR ((1=1", "'; DELETE FROM resource; --", "x' AND (SELECT count(*) FROM sqlite_master)>0--", "\\' OR 1=1 #", "'||(SELECT sqlite_version())||'", "1 OR pg_sleep(10)--", "' ; ATTACH DATABASE '/tmp/x' AS x;--", "*/ OR /*", "'=''", "x\\'; --"];
  const fp = ['Patient.name.where(true)', "') or true or ('", 'name.exists()', '%resource.id', 'iif(true, 1, 0)', "descendants().where($this = 'x')", '$this', 'Patient.repeat(children())', 'trace(\'x\')', 'resolve()', '(1 | 2 | 3).count() > 0', 'extension(\'http://x\').value'];
  const stringParams = ['name', 'family', 'given', 'address', 'address-city', 'phonetic'];
  const tokenParams = ['_id', 'identifier', 'gender', '_tag', 'telecom', 'language'];
  const typedParams = ['birthdate', '_lastUpdated', 'death-date'];
  for (const v of [...sql, ...fp]) {
    const e = encodeURIComponent(v);
    // string and token values are data: strict, the answer is a 4xx or no match at
    // all; lenient, a value the server cannot use (a malformed token, no letter
    // to search for) may instead be ignored, with a warning in the Bundle
    for (const [mode, expect] of [['strict', 'no-match'], ['lenient', 'no-match-or-warned']]) {
      const headers = { prefer: `handling=${mode}` };
      for (const p of stringParams) add('injection', { label: `${p}=${v} (${mode})`, method: 'GET', path: `/fhir/Patient?${p}=${e}`, headers, expect, value: v });
      for (const p of stringParams.slice(0, 2)) add('injection', { label: `${p}:exact=${v} (${mode})`, method: 'GET', path: `/fhir/Patient?${p}:exact=${e}`, headers, expect });
      for (const p of tokenParams) add('injection', { label: `${p}=${v} (${mode})`, method: 'GET', path: `/fhir/Patient?${p}=${e}`, headers, expect });
      add('injection', { label: `identifier=sys|${v} (${mode})`, method: 'GET', path: `/fhir/Patient?identifier=${e}|${e}`, headers, expect });
      add('injection', { label: `POST _search name (${mode})`, method: 'POST', path: '/fhir/Patient/_search', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${e}`, expect, value: v });
      add('injection', { label: `reference ${v} (${mode})`, method: 'GET', path: `/fhir/Observation?subject=${e}`, headers, expect });
    }
    // typed values, names, modifiers, _sort, _include...: 400 with handling=strict;
    // by default (lenient) the parameter is ignored with a warning in the Bundle
    for (const [mode, expect] of [['strict', 'outcome'], ['lenient', 'warned']]) {
      const headers = { prefer: `handling=${mode}` };
      const typed = [
        ...typedParams.map((p) => [`${p}=${v}`, `/fhir/Patient?${p}=${e}`]),
        [`_count=${v}`, `/fhir/Patient?_count=${e}`], [`_sort=${v}`, `/fhir/Patient?_sort=${e}`],
        [`_include=${v}`, `/fhir/Patient?_include=${e}`], [`_include=Patient:${v}`, `/fhir/Patient?_include=Patient:${e}`],
        [`_revinclude=${v}`, `/fhir/Patient?_revinclude=Observation:${e}`], [`_summary=${v}`, `/fhir/Patient?_summary=${e}`],
        [`_total=${v}`, `/fhir/Patient?_total=${e}`], [`name:${v}=x`, `/fhir/Patient?name:${e}=x`],
        [`chain subject.${v}`, `/fhir/Observation?subject.${e}=x`], [`chain subject:${v}.name`, `/fhir/Observation?subject:${e}.name=x`],
        [`_has:${v}`, `/fhir/Patient?_has:Observation:${e}:code=x`], [`param name ${v}`, `/fhir/Patient?${e}=x`],
        [`quantity ${v}`, `/fhir/Observation?value-quantity=${e}`], [`composite ${v}`, `/fhir/Observation?code-value-quantity=${e}$${e}`],
        [`number ${v}`, `/fhir/RiskAssessment?probability=${e}`], [`_filter ${v}`, `/fhir/Patient?_filter=${e}`],
      ];
      for (const [label, p] of typed) add('injection', { label: `${label} (${mode})`, method: 'GET', path: p, headers, expect });
    }
    add('injection', { label: `_elements=${v}`, method: 'GET', path: `/fhir/Patient?_elements=${e}`, expect: 'searchset' });
    add('injection', { label: `If-None-Exist ${v}`, method: 'POST', path: '/fhir/Patient', headers: { ...JSON_CT, 'if-none-exist': `birthdate=${e}` }, body: '{"resourceType":"Patient","active":true}' });
    add('injection', { label: `conditional update ${v}`, method: 'PUT', path: `/fhir/Patient?birthdate=${e}`, headers: JSON_CT, body: '{"resourceType":"Patient","active":true}' });
    add('injection', { label: `conditional delete ${v}`, method: 'DELETE', path: `/fhir/Patient?birthdate=${e}` });
    add('injection', { label: `_type ${v}`, method: 'GET', path: `/fhir/_history?_type=${e}` });
    add('injection', { label: `_since ${v}`, method: 'GET', path: `/fhir/Patient/_history?_since=${e}` });
    add('injection', { label: `_at ${v}`, method: 'GET', path: `/fhir/_history?_at=${e}` });
  }

  // -- path-traversal: in ids, types, versions, operation names, export files, Bundle urls
  const trav = ['..', '../..', '../../../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%2e%2e%2f%2e%2e', '..%5c..%5cwindows', '....//....//', '..\\..\\', '%252e%252e%252f', '/etc/passwd', '%2Fetc%2Fpasswd', '~root', '.%00.', '..;', 'a/../b', '%c0%ae%c0%ae%c0%af'];
  for (const t of trav) {
    add('path-traversal', { label: `read ${t}`, method: 'GET', path: `/fhir/Patient/${t}` });
    add('path-traversal', { label: `vread ${t}`, method: 'GET', path: `/fhir/Patient/seed-p1/_history/${t}` });
    add('path-traversal', { label: `history ${t}`, method: 'GET', path: `/fhir/Patient/${t}/_history` });
    add('path-traversal', { label: `type ${t}`, method: 'GET', path: `/fhir/${t}` });
    add('path-traversal', { label: `type ${t} POST`, method: 'POST', path: `/fhir/${t}`, headers: JSON_CT, body: '{"resourceType":"Patient"}' });
    add('path-traversal', { label: `PUT id ${t}`, method: 'PUT', path: `/fhir/Patient/${t}`, headers: JSON_CT, body: '{"resourceType":"Patient","id":"other","active":true}' });
    add('path-traversal', { label: `PATCH id ${t}`, method: 'PATCH', path: `/fhir/Patient/${t}`, headers: { 'content-type': 'application/json-patch+json' }, body: '[{"op":"replace","path":"/active","value":false}]' });
    add('path-traversal', { label: `operation $${t}`, method: 'GET', path: `/fhir/$${t}` });
    add('path-traversal', { label: `type operation $${t}`, method: 'POST', path: `/fhir/Patient/$${t}`, headers: JSON_CT, body: '{"resourceType":"Parameters"}' });
    add('path-traversal', { label: `instance operation $${t}`, method: 'POST', path: `/fhir/Patient/seed-p1/$${t}`, headers: JSON_CT, body: '{"resourceType":"Parameters"}' });
    add('path-traversal', { label: `export file ${t}`, method: 'GET', path: `/fhir/$export-file/${t}/x.ndjson` });
    add('path-traversal', { label: `export file name ${t}`, method: 'GET', path: `/fhir/$export-file/job/${t}` });
    add('path-traversal', { label: `export status ${t}`, method: 'GET', path: `/fhir/$export-poll-status?_jobId=${t}` });
    add('path-traversal', { label: `export cancel ${t}`, method: 'DELETE', path: `/fhir/$export-poll-status?_jobId=${t}` });
    add('path-traversal', { label: `everything ${t}`, method: 'GET', path: `/fhir/Patient/${t}/$everything` });
    // '..' and '.' are valid ids: a compartment of a patient that is not there is empty
    add('path-traversal', { label: `compartment ${t}`, method: 'GET', path: `/fhir/Patient/${t}/Observation`, expect: 'no-match' });
    add('path-traversal', { label: `group export ${t}`, method: 'GET', path: `/fhir/Group/${t}/$export`, headers: { accept: 'application/fhir+json', prefer: 'respond-async' } });
    add('path-traversal', { label: `Bundle url ${t}`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: true }, request: { method: 'PUT', url: `Patient/${t}` } }] }) });
    add('path-traversal', { label: `Bundle GET ${t}`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `Patient/${t}` } }, { resource: { resourceType: 'Patient', active: 'x' }, request: { method: 'POST', url: 'Patient' } }] }) });
    add('path-traversal', { label: `reference ${t}`, method: 'POST', path: '/fhir/Observation', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${t}` }, valueString: 3 }) });
  }

  // -- invalid-bundles: cycles, thousands of entries, broken structure; each one
  // invalid somewhere, so the whole transaction must be refused and nothing stored
  const entry = (fullUrl, resource, method = 'POST', url = resource.resourceType) => ({ fullUrl, resource, request: { method, url } });
  for (const n of [2, 3, 10, 100, 1000, 2999]) {
    const ids = Array.from({ length: n }, () => `urn:uuid:${crypto.randomUUID ? uuidFrom(R) : uuidFrom(R)}`);
    const bad = R.int(n);
    const entries = ids.map((u, i) => entry(u, { resourceType: 'Patient', active: i === bad ? 'yes' : true, link: [{ other: { reference: ids[(i + 1) % n] }, type: 'seealso' }] }));
    add('invalid-bundles', { label: `cycle of ${n}, entry ${bad} invalid`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }) });
    const self = ids.map((u, i) => entry(u, { resourceType: 'Patient', active: true, link: [{ other: { reference: u }, type: i === bad ? 'no-such-code' : 'seealso' }] }));
    add('invalid-bundles', { label: `${n} self-references, entry ${bad} invalid`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: self }) });
    const dup = ids.map((u, i) => entry(i === n - 1 ? ids[0] : u, { resourceType: 'Basic', code: { text: 'dup' } }));
    if (n > 1) add('invalid-bundles', { label: `${n} entries, duplicate fullUrl`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: dup }) });
    const cond = ids.map((u, i) => entry(u, { resourceType: 'Patient', identifier: [{ system: 'urn:h', value: `c${i}` }], link: [{ other: { reference: `Patient?identifier=urn:h|c${(i + 1) % n}` }, type: 'seealso' }], active: i === bad ? 0 : true }));
    add('invalid-bundles', { label: `${n} conditional references in a cycle, one invalid`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: cond }) });
  }
  for (const n of [MAX_ENTRIES + 1, 10000]) {
    add('invalid-bundles', { label: `${n} entries (over --max-entries)`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: n }, () => ({ resource: { resourceType: 'Basic', code: { text: 'many' } }, request: { method: 'POST', url: 'Basic' } })) }) });
    add('invalid-bundles', { label: `batch of ${n} entries (over --max-entries)`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: n }, () => ({ resource: { resourceType: 'Basic', code: { text: 'many' } }, request: { method: 'POST', url: 'Basic' } })) }) });
  }
  const bundleShapes = [
    { resourceType: 'Bundle' }, { resourceType: 'Bundle', type: 'transaction', entry: {} }, { resourceType: 'Bundle', type: 'transaction', entry: [null] }, { resourceType: 'Bundle', type: 'transaction', entry: [1, 2] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{}] }, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' } }] }, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'BREW', url: 'Patient' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Observation' } }] }, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'PUT', url: 'Patient' } }] }, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'http://evil.example/fhir/Patient' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }, { resource: { resourceType: 'Patient' }, request: { method: 'DELETE', url: 'Patient/seed-p1' } }, { request: { method: 'PATCH', url: 'Patient/seed-p1' } }] },
    { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient' } }] }, { resourceType: 'Bundle', type: 'history' }, { resourceType: 'Bundle', type: 'collection', entry: [] }, { resourceType: 'Bundle', type: 'document' }, { resourceType: 'Bundle', type: 'message' }, { resourceType: 'Bundle', type: 'no-such-type' },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: 'x' }, request: { method: 'POST', url: 'Patient' } }] }, request: { method: 'POST', url: 'Bundle' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: true }, request: { method: 'PUT', url: 'Patient/seed-p1', ifMatch: 'W/"abc"' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient', ifNoneExist: "birthdate=1' OR 1=1" } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' }, fullUrl: 'urn:uuid:not-a-uuid' }, { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:missing-one' } }, request: { method: 'POST', url: 'Observation' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', id: 'seed-p1', active: true }, request: { method: 'PUT', url: 'Patient/seed-p1' } }, { resource: { resourceType: 'Patient', id: 'seed-p1', active: false }, request: { method: 'PUT', url: 'Patient/seed-p1' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'AuditEvent' }, request: { method: 'POST', url: 'AuditEvent' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Patient?birthdate=ge' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Patient/seed-p1' } }, { request: { method: 'GET', url: 'Patient?_count=x' } }, { resource: { resourceType: 'Patient', active: 1 }, request: { method: 'POST', url: 'Patient' } }] },
  ];
  for (const b of bundleShapes) {
    add('invalid-bundles', { label: JSON.stringify(b).slice(0, 90), method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify(b) });
  }
  // thousands of entries, each individually fine, one broken
  for (const n of [1000, 2999]) {
    const at = R.int(n);
    add('invalid-bundles', { label: `${n} entries, entry ${at} has no request`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: n }, (_, i) => (i === at ? { resource: { resourceType: 'Basic', code: { text: 'x' } } } : { resource: { resourceType: 'Basic', code: { text: 'x' } }, request: { method: 'POST', url: 'Basic' } })) }) });
    add('invalid-bundles', { label: `${n} PUTs, entry ${at} of another id`, method: 'POST', path: '/fhir', headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: n }, (_, i) => ({ resource: { resourceType: 'Basic', id: i === at ? 'zz' : `b${i}`, code: { text: 'x' } }, request: { method: 'PUT', url: `Basic/b${i}` } })) }) });
  }
  return cases;
}

function uuidFrom(R) {
  const h = Array.from({ length: 32 }, () => R.int(16).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

// ---- sending ----
const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });

function httpSend(port, token, c) {
  return new Promise((resolve) => {
    const headers = { authorization: `Bearer ${token}`, ...c.headers };
    let body = c.body;
    const chunked = Array.isArray(body);
    if (body !== undefined && !chunked) headers['content-length'] = Buffer.byteLength(body);
    let req;
    try {
      req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent });
    } catch (e) {
      resolve({ error: `client refused to send: ${e.message}` });
      return;
    }
    let settled = false;
    const done = (v) => { if (!settled) { settled = true; resolve(v); } };
    req.setTimeout(CASE_TIMEOUT_MS, () => { req.destroy(); done({ hang: true }); });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => done({ error: e.message }));
    });
    req.on('error', (e) => done({ closed: true, error: e.message }));
    if (chunked) {
      for (const b of body) req.write(b);
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** Write raw bytes; collect the answer until the server closes or one whole response is in. */
function rawSend(port, c) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let settled = false;
    const started = Date.now();
    const finish = (how) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ how, text: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('hang'), c.slow ? (IDLE_TIMEOUT + 6) * 1000 : CASE_TIMEOUT_MS);
    sock.on('connect', () => { sock.write(c.raw); });
    sock.on('data', (d) => {
      chunks.push(d);
      const t = Buffer.concat(chunks).toString('latin1');
      const head = t.indexOf('\r\n\r\n');
      if (head > 0) {
        const m = /\r\ncontent-length: *(\d+)/i.exec(t.slice(0, head));
        if (m && t.length >= head + 4 + Number(m[1])) finish('answered');
      }
    });
    sock.on('error', () => finish('closed'));
    sock.on('close', () => finish('closed'));
  });
}

// ---- checking ----
function isOutcome(res) {
  if (!/^application\/fhir\+json/.test(res.headers['content-type'] || '')) return `Content-Type ${res.headers['content-type']}`;
  let j;
  try { j = JSON.parse(res.text); } catch { return 'body is not JSON'; }
  if (j.resourceType !== 'OperationOutcome' || !Array.isArray(j.issue) || !j.issue.length) return `not an OperationOutcome: ${res.text.slice(0, 120)}`;
  return null;
}

function judgeHttp(c, res) {
  if (res.hang) return `no answer within ${CASE_TIMEOUT_MS} ms`;
  if (res.error && res.status === undefined) {
    // the server may refuse a body it will not read (413 sent, connection closed
    // while the client was still writing): only acceptable for oversize bodies
    const size = c.body === undefined ? 0 : Array.isArray(c.body) ? c.body.reduce((a, b) => a + b.length, 0) : Buffer.byteLength(c.body);
    return size > MAX_BODY ? null : `connection error: ${res.error}`;
  }
  if (res.status >= 500) return `${res.status}: ${res.text.slice(0, 200)}`;
  if (c.expect === 'any4xx') return res.status >= 400 && res.status < 500 ? null : `${res.status} where a 4xx was due`;
  if (res.status === 200 && ['no-match', 'no-match-or-warned', 'warned', 'searchset'].includes(c.expect)) {
    let j;
    try { j = JSON.parse(res.text); } catch { return '200 without JSON'; }
    if (j.resourceType !== 'Bundle' || j.type !== 'searchset') return `200 but not a searchset: ${res.text.slice(0, 120)}`;
    const matches = (j.entry || []).filter((e) => !e.search || e.search.mode === 'match');
    // string search folds punctuation away (tests/unit/search/test_query.c): a
    // value without a letter or digit matches every resource that has one
    const punctuationOnly = c.value !== undefined && !/[\p{L}\p{N}]/u.test(c.value);
    if (c.expect === 'no-match' && matches.length && !punctuationOnly) return `an injection attempt matched ${matches.length} resources`;
    if (c.expect === 'warned' || (c.expect === 'no-match-or-warned' && matches.length && !punctuationOnly)) {
      // lenient handling: the bad parameter is ignored, and the Bundle says so
      const outcome = (j.entry || []).find((e) => e.search && e.search.mode === 'outcome');
      const warned = outcome && outcome.resource.issue.some((i) => i.severity === 'warning');
      if (!warned) return `200 without an OperationOutcome warning: ${res.text.slice(0, 200)}`;
    }
    return null;
  }
  if (res.status < 400) return `${res.status} where a 4xx was due: ${res.text.slice(0, 200)}`;
  const o = isOutcome(res);
  return o ? `${res.status} ${o}` : null;
}

function judgeRaw(c, res) {
  if (c.slow) {
    if (res.how === 'hang') return `not cut off within ${IDLE_TIMEOUT + 6} s`;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(res.text);
    if (m && Number(m[1]) >= 500) return `answered ${m[1]}`;
    return null;
  }
  if (res.how === 'hang') return `no answer and not closed within ${CASE_TIMEOUT_MS} ms`;
  if (!res.text) return null; // closed without an answer: fine for transport abuse
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(res.text);
  if (!m) return `not an HTTP answer: ${JSON.stringify(res.text.slice(0, 80))}`;
  const status = Number(m[1]);
  // RFC 9110 15.6.6: 505 is the answer to an HTTP major version the server
  // does not speak (HTTP/2 preface, HTTP/9.9); MHD sends it before Bron sees
  // the request. Allowed for exactly those cases (marked version: true).
  if (status === 505 && c.version) return null;
  // libmicrohttpd 0.9.75 answers a chunk-size line longer than the connection's
  // buffer with its own 500 page and closes; Bron never sees the request.
  // Known upstream limitation (docs/robustness.md), allowed for that case only.
  if (status === 500 && c.mhdChunkLine && /libmicrohttpd documentation/.test(res.text)) return null;
  if (status >= 500) return `${status}: ${res.text.slice(0, 300)}`;
  if (status < 400) return `${status} where a 4xx or a close was due`;
  return null;
}

// ---- the store's fingerprint: every version and every current resource ----
async function fingerprint(srv) {
  const versions = [];
  let url = '/fhir/_history?_count=500';
  for (let pages = 0; url && pages < 1000; pages++) {
    const r = await srv.request('GET', url);
    assert.equal(r.status, 200, r.text);
    for (const e of r.json.entry || []) {
      const res = e.resource;
      versions.push(`${e.request ? e.request.method : ''} ${e.fullUrl} ${res ? `${res.meta.versionId} ${res.meta.lastUpdated} ${crypto.createHash('sha256').update(JSON.stringify(res)).digest('hex')}` : ''}`);
    }
    const next = (r.json.link || []).find((l) => l.relation === 'next');
    url = next ? new URL(next.url).pathname + new URL(next.url).search : null;
  }
  const current = new Set(versions.map((v) => v.split(' ')[1]).map((u) => u.replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, '')));
  const reads = [];
  for (const ref of [...current].sort()) {
    const r = await srv.request('GET', `/fhir/${ref}`);
    reads.push(`${ref} ${r.status} ${r.headers.etag || ''} ${crypto.createHash('sha256').update(r.text).digest('hex')}`);
  }
  return { versions: versions.sort(), reads };
}

// ---- the test ----
describe('hostile and malformed input', () => {
  let srv;
  let corpus;
  let before0;
  const counts = {};
  const failures = [];

  before(async () => {
    srv = await startServer({ args: ['--max-body', String(MAX_BODY), '--max-entries', String(MAX_ENTRIES), '--idle-timeout', String(IDLE_TIMEOUT), '--sync', '0'] });
    // real data, so "unchanged" means something: patients, observations that
    // refer to them, an updated one (two versions), a deleted one
    const seed = [];
    for (let i = 1; i <= 5; i++) {
      seed.push({ resource: { resourceType: 'Patient', id: `seed-p${i}`, active: true, name: [{ family: `Seed${i}`, given: ['Hostile'] }], birthDate: `198${i}-01-0${i}`, identifier: [{ system: 'urn:seed', value: `p${i}` }] }, request: { method: 'PUT', url: `Patient/seed-p${i}` } });
      seed.push({ resource: { resourceType: 'Observation', id: `seed-o${i}`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/seed-p${i}` }, valueQuantity: { value: 60 + i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } }, request: { method: 'PUT', url: `Observation/seed-o${i}` } });
    }
    const b = await srv.request('POST', '/fhir', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: seed }) });
    assert.equal(b.status, 200, b.text);
    const u = await srv.request('PUT', '/fhir/Patient/seed-p1', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Patient', id: 'seed-p1', active: false, name: [{ family: 'Seed1' }] }) });
    assert.equal(u.status, 200, u.text);
    const d = await srv.request('DELETE', '/fhir/Observation/seed-o5');
    assert.ok(d.status === 200 || d.status === 204, d.text);
    before0 = await fingerprint(srv);
    assert.ok(before0.versions.length >= 12, `seeded ${before0.versions.length} versions`);
    corpus = buildCorpus(loadResources(), srv.token);
  });
  after(async () => { agent.destroy(); if (srv) await srv.stop(); });

  const categories = ['broken-json', 'deep-nesting', 'huge-values', 'invalid-utf8', 'nul-bytes', 'wrong-types', 'oversized', 'slow-loris', 'request-line', 'percent-encoding', 'injection', 'path-traversal', 'invalid-bundles'];
  for (const cat of categories) {
    it(cat, async () => {
      const cases = corpus.filter((c) => c.cat === cat);
      counts[cat] = cases.length;
      assert.ok(cases.length > 0, `no cases in ${cat}`);
      const problems = [];
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const c = cases[next++];
          const res = c.transport ? await rawSend(srv.port, c) : await httpSend(srv.port, srv.token, c);
          const p = c.transport ? judgeRaw(c, res) : judgeHttp(c, res);
          if (p) problems.push(`${c.label}${c.method ? ` [${c.method} ${String(c.path).slice(0, 80)}]` : ''}: ${p}`);
        }
      };
      // slow-loris cases all at once (they wait for the idle timeout together)
      // (raw-socket categories run wider: many of their connections just wait to be cut off)
      const width = cat === 'slow-loris' ? cases.length : cases.every((c) => c.transport) || cat === 'request-line' ? 32 : PARALLEL;
      await Promise.all(Array.from({ length: width }, worker));
      assert.equal(srv.exitInfo(), null, `bron died during ${cat}:\n${srv.stderr().slice(-2000)}`);
      const alive = await srv.request('GET', '/fhir/metadata', { timeout: 10000 });
      assert.equal(alive.status, 200, `bron does not answer after ${cat}`);
      failures.push(...problems.map((p) => `${cat}: ${p}`));
      assert.equal(problems.length, 0, `${problems.length} of ${cases.length} ${cat} cases not answered as they must be:\n  ${problems.slice(0, 40).join('\n  ')}`);
    });
  }

  it('the store is unchanged, and at least 10,000 cases were sent', async () => {
    const after0 = await fingerprint(srv);
    assert.deepEqual(after0.versions, before0.versions, 'the version history changed');
    assert.deepEqual(after0.reads, before0.reads, 'a current resource changed');
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`hostile corpus (seed ${SEED}): ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}; total ${total}`);
    assert.ok(total >= 10000, `only ${total} cases`);
  });
});
