// Access (issue 7): bearer tokens (JWT, checked against the server's JWKS),
// SMART scopes v1/v2 per interaction and type, and the patient context.
//   - 401 with WWW-Authenticate for a missing or bad token (every reason);
//   - the CapabilityStatement and /.well-known/smart-configuration are public;
//   - a matrix of scope forms x interactions: 403 where no scope grants it;
//   - leakage: a token in patient p1's context tries every read path on
//     patient p2's data and never sees it (404 or absent from Bundles); so
//     does another organisation's token (consent, issue 7 item 4), in p1's
//     context where p1 consents to it, and in p2's where p2 does not;
//   - serve refuses to start without --jwks or --open, and --open off loopback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, mintToken, testKeys, tempDir, freePort, BRON_BIN, REPO_ROOT } from './lib/server.mjs';
import { assertOutcome } from './lib/fhir.mjs';

const JSON_CT = { 'content-type': 'application/fhir+json' };
let srv;

/** A request to server `s` with `token` (null: none). */
function asOn(s, token, method, p, body, headers = {}) {
  const h = { accept: 'application/fhir+json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const opts = { headers: h, noToken: true };
  if (body !== undefined) {
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) Object.assign(h, JSON_CT);
  }
  return s.request(method, p, opts);
}

/** A request to the file's server with `token` (null: none). */
function as(token, method, p, body, headers = {}) {
  return asOn(srv, token, method, p, body, headers);
}

const obs = (id, patient, marker) => ({
  resourceType: 'Observation', id, status: 'final', code: { text: marker },
  subject: { reference: `Patient/${patient}` }, encounter: { reference: `Encounter/e-${patient}` },
});

before(async () => {
  srv = await startServer();
  const admin = mintToken({ scope: 'system/*.cruds' });
  for (const p of ['p1', 'p2']) {
    const put = async (r) => {
      const res = await as(admin, 'PUT', `/fhir/${r.resourceType}/${r.id}`, r);
      assert.ok([200, 201].includes(res.status), `${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
    };
    await put({ resourceType: 'Patient', id: p, name: [{ family: `Fam-${p}` }] });
    await put({ resourceType: 'Encounter', id: `e-${p}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${p}` } });
    await put(obs(`o-${p}`, p, `marker-${p}`));
  }
  await put2();
  async function put2() {
    const r = await as(admin, 'PUT', '/fhir/Practitioner/dr', { resourceType: 'Practitioner', id: 'dr', name: [{ family: 'Doc' }] });
    assert.equal(r.status, 201);
  }
});
after(async () => { if (srv) await srv.stop(); });

/** A token signed with the test key whose exp passed an hour ago (node's crypto; bron token only mints live ones). */
function expiredToken() {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwks = JSON.parse(fs.readFileSync(testKeys().jwks, 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid })}.${b64({ iss: 'bron', aud: 'bron', sub: 'x', scope: 'system/*.cruds', iat: now - 7200, exp: now - 3600 })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: fs.readFileSync(testKeys().key), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

describe('authentication', () => {
  it('no token, a malformed one, another key, the wrong issuer or audience, expired: 401 with WWW-Authenticate', async () => {
    const other = tempDir('keys-');
    fs.rmSync(other, { recursive: true, force: true });
    const kg = spawnSync(BRON_BIN, ['keygen', '--dir', other], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(kg.status, 0, kg.stderr);
    const foreign = spawnSync(BRON_BIN, ['token', '--key', path.join(other, 'signing-key.pem'), '--sub', 'x', '--scope', 'system/*.cruds'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
    const cases = [
      ['no token', null, /^Bearer realm="bron"$/],
      ['not a JWT', 'abc', /invalid_token/],
      ['signed by another key', foreign, /invalid_token/],
      ['wrong issuer', mintToken({ iss: 'someone-else' }), /wrong issuer/],
      ['wrong audience', mintToken({ aud: 'another-server' }), /wrong audience/],
      ['expired', expiredToken(), /expired/],
    ];
    for (const [what, tok, re] of cases) {
      for (const [method, p] of [['GET', '/fhir/Patient/p1'], ['GET', '/fhir/Patient'], ['POST', '/fhir'], ['GET', '/fhir/_history']]) {
        const r = await as(tok, method, p, method === 'POST' ? { resourceType: 'Bundle', type: 'batch' } : undefined);
        assertOutcome(r, 401, `${what}: ${method} ${p}`);
        assert.match(String(r.headers['www-authenticate']), re, `${what}: ${r.headers['www-authenticate']}`);
        assert.ok(!r.text.includes('Fam-p1'), `${what}: data in a 401`);
      }
    }
    fs.rmSync(other, { recursive: true, force: true });
  });

  it('a token with an Authorization scheme other than Bearer is refused', async () => {
    const r = await srv.request('GET', '/fhir/Patient/p1', { headers: { authorization: 'Basic dXNlcjpwYXNz' }, noToken: true });
    assertOutcome(r, 401, 'Basic');
  });

  it('the CapabilityStatement and the SMART configuration are public', async () => {
    const m = await as(null, 'GET', '/fhir/metadata');
    assert.equal(m.status, 200);
    const s = await as(null, 'GET', '/fhir/.well-known/smart-configuration');
    assert.equal(s.status, 200);
    assert.ok(s.json.capabilities.includes('permission-v2'));
    assert.ok(s.json.token_endpoint_auth_signing_alg_values_supported.includes('ES256'));
  });
});

describe('scopes per interaction and type (v1 and v2 forms)', () => {
  // [scope, patient, interaction, type, expected status]
  const matrix = [
    ['user/Observation.rs', null, 'read', 'Observation', 200],
    ['user/Observation.rs', null, 'search', 'Observation', 200],
    ['user/Observation.rs', null, 'read', 'Patient', 403],
    ['user/Observation.rs', null, 'search', 'Patient', 403],
    ['user/Observation.rs', null, 'create', 'Observation', 403],
    ['user/Observation.rs', null, 'update', 'Observation', 403],
    ['user/Observation.rs', null, 'delete', 'Observation', 403],
    ['user/Observation.read', null, 'read', 'Observation', 200],
    ['user/Observation.read', null, 'history', 'Observation', 200],
    ['user/Observation.read', null, 'create', 'Observation', 403],
    ['user/Observation.write', null, 'create', 'Observation', 201],
    ['user/Observation.write', null, 'read', 'Observation', 403],
    ['user/Observation.r', null, 'search', 'Observation', 403],
    ['user/Observation.s', null, 'read', 'Observation', 403],
    ['user/*.cruds', null, 'read', 'Patient', 200],
    ['user/*.cruds', null, 'update', 'Patient', 200],
    ['system/*.read', null, 'search', 'Encounter', 200],
    ['system/*.read', null, 'create', 'Encounter', 403],
    ['system/Observation.c', null, 'create', 'Observation', 201],
    ['system/Observation.c', null, 'patch', 'Observation', 403],
    ['system/Observation.u', null, 'patch', 'Observation', 200],
    ['patient/*.rs', null, 'read', 'Observation', 403],          // no patient context: nothing
    ['patient/*.rs', 'p1', 'read', 'Observation', 200],
    ['patient/*.rs', 'p1', 'create', 'Observation', 403],
    ['patient/Observation.cruds', 'p1', 'create', 'Observation', 201],
    ['openid fhirUser', null, 'read', 'Patient', 403],
  ];
  const target = { Observation: 'o-p1', Patient: 'p1', Encounter: 'e-p1' };
  for (const [scope, patient, op, type, want] of matrix) {
    it(`${scope}${patient ? ` (patient ${patient})` : ''}: ${op} ${type} -> ${want}`, async () => {
      const tok = mintToken({ scope, ...(patient ? { patient } : {}) });
      const id = target[type];
      let r;
      if (op === 'read') r = await as(tok, 'GET', `/fhir/${type}/${id}`);
      else if (op === 'search') r = await as(tok, 'GET', `/fhir/${type}?_id=${id}`);
      else if (op === 'history') r = await as(tok, 'GET', `/fhir/${type}/${id}/_history`);
      else if (op === 'create') r = await as(tok, 'POST', `/fhir/${type}`, type === 'Observation' ? obs(undefined, 'p1', 'new') : { resourceType: type });
      else if (op === 'update') {
        const cur = await as(mintToken(), 'GET', `/fhir/${type}/${id}`);
        r = await as(tok, 'PUT', `/fhir/${type}/${id}`, cur.json);
      } else if (op === 'delete') r = await as(tok, 'DELETE', `/fhir/${type}/${id}`);
      else if (op === 'patch') r = await as(tok, 'PATCH', `/fhir/${type}/${id}`, JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]), { 'content-type': 'application/json-patch+json' });
      if (want >= 400) assertOutcome(r, want, `${scope} ${op} ${type}`);
      else assert.equal(r.status, want, `${scope} ${op} ${type}: ${r.status} ${r.text.slice(0, 300)}`);
      if (op === 'search' && want === 200) assert.equal(r.json.entry.length, 1);
    });
  }
});

// The read and write paths the leakage tests try against patient p2's data
// (Observation o-p2, Encounter e-p2), and what each must answer to a token
// that may not see p2: a status, or a kind of request with its own check.
const LEAK_PATHS = [
  ['read', 'GET', '/fhir/Patient/p2', 404],
  ['read of a resource in the other compartment', 'GET', '/fhir/Observation/o-p2', 404],
  ['vread', 'GET', '/fhir/Observation/o-p2/_history/1', 404],
  ['instance history', 'GET', '/fhir/Observation/o-p2/_history', 404],
  ['type history', 'GET', '/fhir/Observation/_history', 403],
  ['system history', 'GET', '/fhir/_history', 403],
  ['search by patient', 'GET', '/fhir/Observation?patient=p2', 200],
  ['search by _id', 'GET', '/fhir/Observation?_id=o-p2', 200],
  ['search of every Patient', 'GET', '/fhir/Patient', 200],
  ['compartment search', 'GET', '/fhir/Patient/p2/Observation', 200],
  ['_include', 'GET', '/fhir/Encounter?_include=Encounter:subject', 200],
  ['_revinclude', 'GET', '/fhir/Patient?_revinclude=Observation:subject', 200],
  // joins are refused under a patient context: a resource inside the
  // compartment may refer to one outside it, and a join would test it
  ['_has', 'GET', '/fhir/Patient?_has:Observation:subject:code:text=marker-p2', 403],
  ['chain', 'GET', '/fhir/Observation?subject:Patient.family=Fam-p2', 403],
  ['system search', 'GET', '/fhir/?_type=Observation,Patient', 200],
  ['$everything', 'GET', '/fhir/Patient/p2/$everything', 404],
  ['conditional update', 'PUT', '/fhir/Observation?_id=o-p2', 'cond'],
  ['update', 'PUT', '/fhir/Observation/o-p2', 'put'],
  ['patch', 'PATCH', '/fhir/Observation/o-p2', 'patch'],
  ['delete', 'DELETE', '/fhir/Observation/o-p2', 'delete'],
  ['batch GET entries', 'POST', '/fhir', 'batch'],
];
// the statuses accepted for the kinds of request (null: any)
const LEAK_KIND_STATUS = { batch: [200], cond: [403, 404, 400, 412, 201], put: [403, 404, 400, 412, 201], patch: [404], delete: null };

/**
 * One test per LEAK_PATHS entry: the token `token()` tries it on server
 * `server()`, and a last test asserts that no answer showed anything of p2.
 * self: the patient of the token's context (updates send an Observation of
 * that patient with p2's id); expect: { [what]: statuses } where a path must
 * answer otherwise than in LEAK_PATHS / LEAK_KIND_STATUS.
 */
function leakageTests({ server, token, self = 'p1', expect = {} }) {
  const leaks = [];
  // the resources an answer shows (an OperationOutcome echoing the asked-for
  // id, or a self link repeating the query, shows nothing of p2's data)
  const shown = (j) => {
    if (!j || typeof j !== 'object') return [];
    if (j.resourceType === 'Bundle') return (j.entry || []).flatMap((e) => [...shown(e.resource), ...shown(e.response && e.response.outcome)]);
    return j.resourceType === 'OperationOutcome' ? [] : [j];
  };
  const look = (what, r) => {
    for (const res of shown(r.json)) {
      const t = JSON.stringify(res);
      for (const m of ['Fam-p2', 'marker-p2', '"o-p2"', '"e-p2"', '"p2"', 'Patient/p2']) {
        if (t.includes(m)) leaks.push(`${what}: ${r.status} shows ${res.resourceType}/${res.id} (${m})`);
      }
    }
  };
  for (const [what, method, p, want] of LEAK_PATHS) {
    it(`${what}: ${method} ${p}`, async () => {
      const s = server();
      const tok = token();
      let r;
      if (want === 'batch') {
        r = await asOn(s, tok, 'POST', p, { resourceType: 'Bundle', type: 'batch', entry: [
          { request: { method: 'GET', url: 'Patient/p2' } }, { request: { method: 'GET', url: 'Observation?patient=p2' } },
          { request: { method: 'GET', url: 'Observation/o-p2/_history' } }] });
      } else if (want === 'cond' || want === 'put') {
        r = await asOn(s, tok, 'PUT', p, obs('o-p2', self, 'hijack'));
      } else if (want === 'patch') {
        r = await asOn(s, tok, 'PATCH', p, JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]), { 'content-type': 'application/json-patch+json' });
      } else {
        r = await asOn(s, tok, method, p);
      }
      let allowed = what in expect ? expect[what] : (typeof want === 'number' ? want : LEAK_KIND_STATUS[want]);
      if (allowed !== null) {
        allowed = [allowed].flat();
        if (allowed.every((x) => x >= 400)) assertOutcome(r, allowed, what);
        else assert.ok(allowed.includes(r.status), `${what}: expected ${allowed.join(' or ')}, got ${r.status} ${r.text.slice(0, 300)}`);
      }
      look(what, r);
      // p2's data is untouched
      const admin = mintToken();
      const o = await asOn(s, admin, 'GET', '/fhir/Observation/o-p2');
      assert.equal(o.json.code.text, 'marker-p2', `${what} changed o-p2`);
      assert.equal(o.json.subject.reference, 'Patient/p2');
    });
  }
  it('zero leaks on every path', () => { assert.deepEqual(leaks, []); });
}

describe('a patient context sees nothing of another patient', () => {
  // a token for p1's app; every path tries p2's data
  let tok;
  before(() => { tok = mintToken({ sub: 'app', scope: 'patient/*.cruds user/Practitioner.rs', patient: 'p1' }); });
  leakageTests({ server: () => srv, token: () => tok });
  it('the own patient\'s data is visible on the same paths', async () => {
    const r = await as(tok, 'GET', '/fhir/Patient/p1/$everything');
    assert.equal(r.status, 200);
    const ids = r.json.entry.map((e) => e.resource.id).sort();
    assert.ok(ids.includes('p1') && ids.includes('o-p1') && ids.includes('e-p1'), ids.join());
    const s = await as(tok, 'GET', '/fhir/Observation?subject=Patient/p1');
    assert.ok(s.json.entry.length >= 1);
    for (const e of s.json.entry) assert.equal(e.resource.subject.reference, 'Patient/p1');
    // a chain into a type the token may search without limits is fine
    const c = await as(tok, 'GET', '/fhir/Observation?performer:Practitioner.family=Doc');
    assert.equal(c.status, 200, c.text);
  });
});

describe('consent: another organisation sees nothing of a patient who did not consent', () => {
  // a server of the own organisation (--organization, opt-in by default)
  // where p1 consents to organisation A and p2 has no consent; A's tokens
  // carry system/*.cruds, so only the patient context and consent limit them
  const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
  const ORG_A = `${URA}|22222222`;
  let csrv;
  before(async () => {
    csrv = await startServer({ args: ['--organization', `${URA}|11111111`] });
    const admin = mintToken({ scope: 'system/*.cruds' });
    const put = async (r) => {
      const res = await asOn(csrv, admin, 'PUT', `/fhir/${r.resourceType}/${r.id}`, r);
      assert.equal(res.status, 201, `${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
    };
    for (const p of ['p1', 'p2']) {
      await put({ resourceType: 'Patient', id: p, name: [{ family: `Fam-${p}` }] });
      await put({ resourceType: 'Encounter', id: `e-${p}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${p}` } });
      await put(obs(`o-${p}`, p, `marker-${p}`));
    }
    await put({ resourceType: 'Organization', id: 'org-a', identifier: [{ system: URA, value: '22222222' }] });
    await put({
      resourceType: 'Consent', id: 'consent-p1', status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/p1' },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
      provision: { type: 'permit', actor: [{
        role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
        reference: { identifier: { system: URA, value: '22222222' } } }] },
    });
  });
  after(async () => { if (csrv) await csrv.stop(); });

  describe('organisation A in p1\'s context (p1 permits A)', () => {
    let tok;
    before(() => { tok = mintToken({ sub: 'org-a-app', scope: 'system/*.cruds', patient: 'p1', org: ORG_A, purpose: 'TREAT' }); });
    leakageTests({ server: () => csrv, token: () => tok });
    it('p1\'s own data is visible (the consent permits)', async () => {
      const r = await asOn(csrv, tok, 'GET', '/fhir/Patient/p1/$everything');
      assert.equal(r.status, 200, r.text);
      const ids = r.json.entry.map((e) => e.resource.id);
      assert.ok(ids.includes('p1') && ids.includes('o-p1') && ids.includes('e-p1'), ids.join());
      const s = await asOn(csrv, tok, 'GET', '/fhir/Observation');
      assert.ok(s.json.entry.some((e) => e.resource.id === 'o-p1'), s.text.slice(0, 300));
      for (const e of s.json.entry) assert.equal(e.resource.subject.reference, 'Patient/p1');
    });
  });

  describe('organisation A in p2\'s context (p2 has no consent: opt-in denies)', () => {
    let tok;
    before(() => { tok = mintToken({ sub: 'org-a-app', scope: 'system/*.cruds', patient: 'p2', org: ORG_A, purpose: 'TREAT' }); });
    // p2 is the token's own patient here, so writes on p2's Observation are
    // refused for want of consent (403), or answer as if it did not exist
    leakageTests({
      server: () => csrv, token: () => tok, self: 'p2',
      expect: { 'conditional update': [400, 403, 404, 412], update: [403, 404], patch: [403, 404], delete: [403, 404] },
    });
    it('each decision is logged as a denial by the opt-in default', () => {
      const lines = csrv.stderr().split('\n').filter((l) => l.includes('bron: consent patient=p2 '));
      assert.ok(lines.length > 0, 'no consent decision logged for p2');
      for (const l of lines) assert.match(l, /decision=deny by=default:opt-in(\s|$)/, l);
    });
  });
});

describe('bron serve refuses to run without access control by accident', () => {
  const run = (args) => spawnSync(BRON_BIN, ['serve', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20000 });
  it('neither --jwks nor --open: exit 2 with a message', async () => {
    const r = run(['--bind', '127.0.0.1', '--port', String(await freePort()), '--data', tempDir()]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--jwks/);
  });
  it('--open on an address other than loopback: exit 2', async () => {
    const r = run(['--bind', '0.0.0.0', '--port', String(await freePort()), '--open', '--data', tempDir()]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /loopback/);
  });
  it('--open says so loudly at start', async () => {
    const s = await startServer({ args: ['--open'] });
    try {
      assert.match(s.stderr(), /NO ACCESS CHECKS/);
      assert.equal((await s.request('GET', '/fhir/Patient')).status, 200);
    } finally {
      await s.stop();
    }
  });
  it('a JWKS file that cannot be read: exit 1', async () => {
    const r = run(['--bind', '127.0.0.1', '--port', String(await freePort()), '--data', tempDir(), '--jwks', path.join(testKeys().dir, 'missing.json')]);
    assert.equal(r.status, 1);
  });
});

describe('v2 query filters, Bundles and conditions under scopes', () => {
  before(async () => {
    const admin = mintToken();
    for (const [id, cat] of [['lab-p1', 'laboratory'], ['vit-p1', 'vital-signs']]) {
      const r = await as(admin, 'PUT', `/fhir/Observation/${id}`, {
        resourceType: 'Observation', id, status: 'final', code: { text: id },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: cat }] }],
        subject: { reference: 'Patient/p1' },
      });
      assert.equal(r.status, 201, r.text);
    }
  });

  it('patient/Observation.rs?category=laboratory sees the laboratory results of its patient only', async () => {
    const tok = mintToken({ scope: 'patient/Observation.rs?category=laboratory', patient: 'p1' });
    const s = await as(tok, 'GET', '/fhir/Observation?_count=100');
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(s.json.entry.map((e) => e.resource.id), ['lab-p1']);
    assert.equal((await as(tok, 'GET', '/fhir/Observation/lab-p1')).status, 200);
    assertOutcome(await as(tok, 'GET', '/fhir/Observation/vit-p1'), 404, 'outside the filter');
    assertOutcome(await as(tok, 'GET', '/fhir/Observation/o-p2'), 404, 'other patient');
    // a filter grants no writes
    assertOutcome(await as(tok, 'POST', '/fhir/Observation', obs(undefined, 'p1', 'x')), 403, 'write');
  });

  it('a transaction with an entry the scopes do not allow fails whole with 403 and stores nothing', async () => {
    const tok = mintToken({ scope: 'user/Observation.cruds' });
    const r = await as(tok, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:1', resource: obs(undefined, 'p1', 'tx-ok'), request: { method: 'POST', url: 'Observation' } },
      { fullUrl: 'urn:uuid:2', resource: { resourceType: 'Patient', name: [{ family: 'tx-denied' }] }, request: { method: 'POST', url: 'Patient' } },
    ] });
    assertOutcome(r, 403, 'transaction');
    const admin = mintToken();
    const s = await as(admin, 'GET', '/fhir/Observation?code:text=tx-ok');
    assert.equal((s.json.entry || []).length, 0, 'part of the transaction was stored');
  });

  it('a conditional create does not find what the sender may not see (no existence oracle)', async () => {
    const tok = mintToken({ scope: 'patient/Observation.cruds', patient: 'p1' });
    const r = await as(tok, 'POST', '/fhir/Observation', obs(undefined, 'p1', 'cond-new'), { 'if-none-exist': '_id=o-p2' });
    assert.equal(r.status, 201, `the condition matched another patient's resource: ${r.status} ${r.text}`);
    assert.notEqual(r.json.id, 'o-p2');
  });

  it('a system token without a patient sees both patients; a token with another patient sees the other one', async () => {
    const sys = mintToken({ scope: 'system/Observation.rs' });
    const all = await as(sys, 'GET', '/fhir/Observation?_id=o-p1,o-p2');
    assert.equal(all.json.entry.length, 2);
    const p2 = mintToken({ scope: 'patient/*.rs', patient: 'p2' });
    const mine = await as(p2, 'GET', '/fhir/Observation?_id=o-p1,o-p2');
    assert.deepEqual(mine.json.entry.map((e) => e.resource.id), ['o-p2']);
  });
});
