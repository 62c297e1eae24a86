// Consent (issue 7, item 4): a token from another organisation, or from the
// own organisation for a purpose other than treatment, sees a patient's data
// only as far as the patient's Consent resources allow.
//   - the own organisation (no organization claim, or the one of
//     --organization) treating a patient is governed by its scopes only;
//   - everyone else needs a patient claim and sees that patient's compartment,
//     narrowed by the active patient-privacy Consents: the deepest matching
//     provision with a type decides, deny beats permit at equal depth, and
//     --consent-default (opt-in: deny) when none matches;
//   - provisions match on actor (identifier or a stored Organization), purpose,
//     period, class, action and security label; a permit with conditions Bron
//     cannot check does not match, a deny with them does;
//   - denied data answers as if it did not exist (404, left out of Bundles);
//     writes need a permit (403 otherwise);
//   - break-the-glass purposes (--break-glass) override a deny;
//   - every decision is one line on stderr: bron: consent ... by=<basis>.
// Three servers: opt-in with --break-glass BTG (the main one), opt-out, and
// opt-in without break-the-glass; all hold the same patients and consents.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, mintToken, sleep } from './lib/server.mjs';
import { assertOutcome } from './lib/fhir.mjs';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const OWN = `${URA}|11111111`;
const ORG_A = `${URA}|22222222`;
const ORG_B = `${URA}|33333333`;
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';
const JSON_CT = { 'content-type': 'application/fhir+json' };
const DAY = 86400e3;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

// --- the data ----------------------------------------------------------------

// every patient has the same seven resources; ids carry the patient's id after
// a '-' so that an id tells whose data it is
const KINDS = {
  Patient: (p) => ({ resourceType: 'Patient', id: p, name: [{ family: `Fam-${p}` }] }),
  e: (p) => ({ resourceType: 'Encounter', id: `e-${p}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${p}` } }),
  o1: (p) => observation(`o1-${p}`, p),
  o2: (p) => observation(`o2-${p}`, p),
  or: (p) => ({ ...observation(`or-${p}`, p), meta: { security: [{ system: CONF, code: 'R' }] } }),
  c1: (p) => condition(`c1-${p}`, p),
  c2: (p) => condition(`c2-${p}`, p),
};
const ALL = Object.keys(KINDS);
const OBS = ['o1', 'o2', 'or'];
const COND = ['c1', 'c2'];
const ref = (p, k) => { const r = KINDS[k](p); return `${r.resourceType}/${r.id}`; };

function observation(id, p, marker = `marker-${id}`) {
  return { resourceType: 'Observation', id, status: 'final', code: { text: marker }, subject: { reference: `Patient/${p}` }, encounter: { reference: `Encounter/e-${p}` } };
}
function condition(id, p) {
  return { resourceType: 'Condition', id, code: { text: `cond-${id}` }, subject: { reference: `Patient/${p}` } };
}

const actorId = (org) => {
  const [system, value] = org.split('|');
  return { role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { identifier: { system, value } } };
};
const actorRef = (reference) => ({ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference } });
const cls = (...types) => types.map((code) => ({ system: RESOURCE_TYPES, code }));
const act = (code) => [{ coding: [{ system: CONSENT_ACTION, code }] }];
const purpose = (code) => [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code }];

/** A Consent of patient p (active, patient-privacy unless said otherwise). */
function consent(id, p, provision, { status = 'active', scope = 'patient-privacy' } = {}) {
  return {
    resourceType: 'Consent', id, status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: scope }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${p}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision,
  };
}

// patient -> its consents (patients without an entry have none)
const now = Date.now();
const CONSENTS = {
  pNone: [],
  pPermit: [consent('cn-pPermit', 'pPermit', { type: 'permit', actor: [actorId(ORG_A)] })],
  pRef: [consent('cn-pRef', 'pRef', { type: 'permit', actor: [actorRef('Organization/org-a')] })],
  pDeny: [consent('cn-pDeny', 'pDeny', { type: 'deny', actor: [actorId(ORG_A)] })],
  pNested: [consent('cn-pNested', 'pNested', { type: 'permit', actor: [actorId(ORG_A)], provision: [{ type: 'deny', class: cls('Condition') }] })],
  pLabel: [consent('cn-pLabel', 'pLabel', { type: 'permit', actor: [actorId(ORG_A)], provision: [{ type: 'deny', securityLabel: [{ system: CONF, code: 'R' }] }] })],
  pEqual: [consent('cn-pEqual', 'pEqual', { type: 'permit', actor: [actorId(ORG_A)], provision: [
    { type: 'deny', class: cls('Observation') }, { type: 'permit', class: cls('Observation') }] })],
  pTwo: [consent('cn-pTwo-permit', 'pTwo', { type: 'permit', actor: [actorId(ORG_A)] }),
    consent('cn-pTwo-deny', 'pTwo', { type: 'deny', actor: [actorId(ORG_A)] })],
  pDeep: [consent('cn-pDeep', 'pDeep', { type: 'deny', actor: [actorId(ORG_A)], provision: [{ type: 'permit', class: cls('Observation') }] })],
  // a permit with a condition Bron cannot check (code) does not match
  pUncheck: [consent('cn-pUncheck', 'pUncheck', { actor: [actorId(ORG_A)], provision: [
    { type: 'permit', class: cls('Observation') },
    { type: 'permit', class: cls('Condition'), code: [{ coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] }] }] })],
  // a deny with one (data) does
  pUncheckDeny: [consent('cn-pUncheckDeny', 'pUncheckDeny', { type: 'permit', actor: [actorId(ORG_A)], provision: [
    { type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'Observation/o1-pUncheckDeny' } }] }] })],
  pExpired: [consent('cn-pExpired', 'pExpired', { type: 'permit', actor: [actorId(ORG_A)], period: { start: iso(now - 30 * DAY), end: iso(now - DAY) } })],
  pFuture: [consent('cn-pFuture', 'pFuture', { type: 'permit', actor: [actorId(ORG_A)], period: { start: iso(now + DAY) } })],
  pCurrent: [consent('cn-pCurrent', 'pCurrent', { type: 'permit', actor: [actorId(ORG_A)], period: { start: iso(now - DAY), end: iso(now + 30 * DAY) } })],
  pPurpose: [consent('cn-pPurpose', 'pPurpose', { type: 'permit', actor: [actorId(ORG_A)], purpose: purpose('TREAT') })],
  pInactive: [consent('cn-pInactive', 'pInactive', { type: 'permit', actor: [actorId(ORG_A)] }, { status: 'inactive' })],
  pResearch: [consent('cn-pResearch', 'pResearch', { type: 'permit', actor: [actorId(ORG_A)] }, { scope: 'research' })],
  pBtg: [consent('cn-pBtg', 'pBtg', { type: 'deny', actor: [actorId(ORG_A)] })],
  pWrite: [consent('cn-pWrite', 'pWrite', { type: 'permit', actor: [actorId(ORG_A)] })],
  pReadOnly: [consent('cn-pReadOnly', 'pReadOnly', { type: 'permit', actor: [actorId(ORG_A)], action: act('access') })],
  pCorrectOnly: [consent('cn-pCorrectOnly', 'pCorrectOnly', { type: 'permit', actor: [actorId(ORG_A)], action: act('correct') })],
};
const PATIENTS = Object.keys(CONSENTS);

const ORGS = [
  { resourceType: 'Organization', id: 'org-a', name: 'A', identifier: [{ system: URA, value: '22222222' }] },
  { resourceType: 'Organization', id: 'org-b', name: 'B', identifier: [{ system: URA, value: '33333333' }] },
];

const ADMIN = () => mintToken({ scope: 'system/*.cruds' });

/** Start a server with these flags and store every patient, organisation and consent (one transaction). */
async function seeded(args) {
  const s = await startServer({ args });
  const resources = [...ORGS];
  for (const p of PATIENTS) resources.push(...ALL.map((k) => KINDS[k](p)), ...CONSENTS[p]);
  const r = await on(s, ADMIN(), 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: resources.map((res) => (
    { resource: res, request: { method: 'PUT', url: `${res.resourceType}/${res.id}` } })) });
  assert.equal(r.status, 200, `seeding: ${r.status} ${r.text.slice(0, 500)}`);
  for (const e of r.json.entry) assert.match(e.response.status, /^201/, JSON.stringify(e.response));
  return s;
}

// --- requests and views --------------------------------------------------------

/** A request to server s with `token`. */
function on(s, token, method, p, body, headers = {}) {
  const h = { accept: 'application/fhir+json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const opts = { headers: h, noToken: true };
  if (body !== undefined) {
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
    Object.assign(h, JSON_CT);
  }
  return s.request(method, p, opts);
}

const tokens = new Map();
/** A token of a foreign organisation (A unless said), memoised. */
function foreign({ patient, org = ORG_A, purpose: pu = 'TREAT', scope = 'system/*.rs' } = {}) {
  const key = JSON.stringify([patient, org, pu, scope]);
  if (!tokens.has(key)) tokens.set(key, mintToken({ sub: 'foreign', scope, org, ...(patient ? { patient } : {}), ...(pu ? { purpose: pu } : {}) }));
  return tokens.get(key);
}

/** The resources a Bundle answer shows ('Type/id', sorted; OperationOutcomes left out). */
function idsOf(r, what) {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.equal(r.json.resourceType, 'Bundle', what);
  return (r.json.entry || []).map((e) => e.resource).filter((res) => res && res.resourceType !== 'OperationOutcome')
    .map((res) => `${res.resourceType}/${res.id}`).sort();
}

/** The patient an id of the fixture belongs to ('o1-pX' -> 'pX', 'pX' -> 'pX'), or null. */
function ownerOf(typeId) {
  const id = typeId.split('/')[1];
  const parts = id.split('-');
  return PATIENTS.find((p) => p === id || parts.slice(1).includes(p)) || null;
}

/**
 * What `token` sees of patient p's seven resources on server s: by read
 * (each one; anything not 200 must be a 404 OperationOutcome, never a 403) and
 * by searches (by patient, and in the token's own compartment without one).
 * Returns { read, search } as sorted lists of 'Type/id' of p's resources.
 */
async function view(s, token, p, what) {
  const read = [];
  for (const k of ALL) {
    const r = await on(s, token, 'GET', `/fhir/${ref(p, k)}`);
    if (r.status === 200) read.push(ref(p, k));
    else assertOutcome(r, 404, `${what}: GET ${ref(p, k)} (denied data answers as if it did not exist)`);
  }
  const found = new Set();
  for (const q of [`Observation?patient=${p}`, `Condition?patient=${p}`, `Encounter?patient=${p}`, `Patient?_id=${p}`,
    'Observation', 'Condition', 'Encounter', 'Patient']) {
    const sep = q.includes('?') ? '&' : '?';
    for (const id of idsOf(await on(s, token, 'GET', `/fhir/${q}${sep}_count=200`), `${what}: GET ${q}`)) {
      if (ownerOf(id) === p) found.add(id);
    }
  }
  return { read: read.sort(), search: [...found].sort() };
}

/** Assert that `token` sees exactly the kinds `kinds` of patient p (by read and by search). */
async function assertSees(s, token, p, kinds, what) {
  const want = kinds.map((k) => ref(p, k)).sort();
  const v = await view(s, token, p, what);
  assert.deepEqual(v.read, want, `${what}: readable resources of ${p}`);
  assert.deepEqual(v.search, want, `${what}: resources of ${p} found by search`);
}

const seesNothing = (s, token, p, what) => assertSees(s, token, p, [], what);

// --- the decision log ------------------------------------------------------------

const esc = (x) => String(x).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The consent decision lines on s's stderr from offset `from`. */
const consentLines = (s, from, to) => s.stderr().slice(from, to).split('\n').filter((l) => l.includes('bron: consent '));
/**
 * The length of s's stderr once it has stopped growing for 150 ms: lines of
 * earlier requests can reach us after their responses, so an offset taken
 * right away could count them as the next request's.
 */
async function mark(s) {
  let len = s.stderr().length;
  for (let quiet = 0; quiet < 150; quiet += 25) {
    await sleep(25);
    if (s.stderr().length !== len) { len = s.stderr().length; quiet = -25; }
  }
  return len;
}
/** A regexp for a decision line; fields left out match anything. */
function decisionRe({ patient, org, purpose: pu, type, decision, by }) {
  const f = (v) => (v === undefined ? '\\S+' : esc(v));
  return new RegExp(`bron: consent patient=${f(patient)} org=${f(org)} purpose=${f(pu)} type=${f(type)} decision=${f(decision)} by=${f(by)}(\\s|$)`);
}
/** Wait (up to 3 s) for a decision line after offset `from` that matches `fields`; returns the lines seen. */
async function assertLogged(s, from, fields) {
  const re = decisionRe(fields);
  const deadline = Date.now() + 3000;
  for (;;) {
    const lines = consentLines(s, from);
    if (lines.some((l) => re.test(l))) return lines;
    if (Date.now() > deadline) assert.fail(`no consent line matching ${re} on stderr; the consent lines since the request:\n${lines.join('\n') || '(none)'}`);
    await sleep(25);
  }
}

// --- the servers --------------------------------------------------------------------

let srv; // opt-in, --break-glass BTG
before(async () => {
  srv = await seeded(['--organization', OWN, '--break-glass', 'BTG']);
});
after(async () => { if (srv) await srv.stop(); });

describe('the fixture', () => {
  it('every patient has its seven resources, one labelled R, as the own organisation sees them', async () => {
    const admin = ADMIN();
    for (const p of ['pNone', 'pPermit', 'pBtg']) await assertSees(srv, admin, p, ALL, `admin on ${p}`);
    const r = await on(srv, admin, 'GET', '/fhir/Observation/or-pLabel');
    assert.deepEqual(r.json.meta.security, [{ system: CONF, code: 'R' }]);
  });
});

describe('the own organisation is governed by its scopes only', () => {
  it('a token without organization sees every patient, with or without consent, and needs no patient claim', async () => {
    const admin = ADMIN();
    for (const p of ['pNone', 'pDeny', 'pBtg', 'pTwo']) await assertSees(srv, admin, p, ALL, `no organization claim on ${p}`);
  });

  it('the own organisation by system|value or by the bare value, treating (no purpose, TREAT, ETREAT, BTG), sees everything', async () => {
    const cases = [
      [OWN, undefined], [OWN, 'TREAT'], [OWN, 'ETREAT'], [OWN, 'BTG'], ['11111111', 'TREAT'],
    ];
    for (const [org, pu] of cases) {
      const tok = mintToken({ scope: 'system/*.rs', org, ...(pu ? { purpose: pu } : {}) });
      await assertSees(srv, tok, 'pDeny', ALL, `org ${org} purpose ${pu}`);
      const all = idsOf(await on(srv, tok, 'GET', '/fhir/Observation?_count=500'), 'all Observations');
      assert.equal(all.length, PATIENTS.length * OBS.length, `org ${org} purpose ${pu}: every patient's Observations`);
    }
  });

  it('the own organisation treating is not logged as a consent decision', async () => {
    const from = await mark(srv);
    const tok = mintToken({ scope: 'system/*.rs', org: OWN, purpose: 'TREAT' });
    assert.equal((await on(srv, tok, 'GET', '/fhir/Observation/o1-pNone')).status, 200);
    assert.equal((await on(srv, ADMIN(), 'GET', '/fhir/Observation?patient=pNone')).status, 200);
    await sleep(200);
    assert.deepEqual(consentLines(srv, from), []);
  });

  it('the own organisation for research (HRESCH) is subject to consent: no patient claim 403; no consent: nothing of the patient (opt-in)', async () => {
    const noPatient = mintToken({ scope: 'system/*.rs', org: OWN, purpose: 'HRESCH' });
    assertOutcome(await on(srv, noPatient, 'GET', '/fhir/Observation/o1-pNone'), 403, 'HRESCH without patient: read');
    assertOutcome(await on(srv, noPatient, 'GET', '/fhir/Observation'), 403, 'HRESCH without patient: search');
    const from = await mark(srv);
    const tok = mintToken({ scope: 'system/*.rs', org: OWN, purpose: 'HRESCH', patient: 'pNone' });
    await seesNothing(srv, tok, 'pNone', 'own organisation, HRESCH, pNone');
    await assertLogged(srv, from, { patient: 'pNone', org: OWN, purpose: 'HRESCH', decision: 'deny', by: 'default:opt-in' });
  });

  it('the same value under another identifier system is another organisation (403 without a patient claim)', async () => {
    const tok = mintToken({ scope: 'system/*.rs', org: 'urn:oid:2.16.528.1.1007.3.3|11111111', purpose: 'TREAT' });
    assertOutcome(await on(srv, tok, 'GET', '/fhir/Observation/o1-pNone'), 403, 'other system, read');
    assertOutcome(await on(srv, tok, 'GET', '/fhir/Observation?patient=pNone'), 403, 'other system, search');
  });
});

describe('a foreign organisation without a patient claim', () => {
  it('is refused (403 OperationOutcome) on reads, searches, $everything and history, whatever its scopes', async () => {
    for (const scope of ['system/*.rs', 'system/*.cruds', 'user/*.cruds']) {
      const tok = foreign({ scope });
      for (const [method, p] of [['GET', '/fhir/Observation/o1-pPermit'], ['GET', '/fhir/Patient/pPermit'], ['GET', '/fhir/Observation'],
        ['GET', '/fhir/Observation?patient=pPermit'], ['GET', '/fhir/Patient/pPermit/$everything'], ['GET', '/fhir/?_type=Observation'],
        ['GET', '/fhir/Observation/o1-pPermit/_history']]) {
        const r = await on(srv, tok, method, p);
        assertOutcome(r, 403, `${scope}: ${method} ${p}`);
        assert.ok(!r.text.includes('marker-'), `${scope}: ${method} ${p} shows data`);
      }
    }
  });

  it('still gets the CapabilityStatement and the SMART configuration', async () => {
    const tok = foreign();
    assert.equal((await on(srv, tok, 'GET', '/fhir/metadata')).status, 200);
    assert.equal((await on(srv, tok, 'GET', '/fhir/.well-known/smart-configuration')).status, 200);
  });
});

describe('no consent on an opt-in server', () => {
  it('a foreign organisation sees nothing of the patient: reads 404 (the Patient too), searches empty', async () => {
    await seesNothing(srv, foreign({ patient: 'pNone' }), 'pNone', 'A on pNone');
    await seesNothing(srv, foreign({ patient: 'pNone', scope: 'patient/*.rs' }), 'pNone', 'A (patient/*.rs) on pNone');
    const ev = await on(srv, foreign({ patient: 'pNone' }), 'GET', '/fhir/Patient/pNone/$everything');
    if (ev.status !== 404) assert.deepEqual(idsOf(ev, '$everything'), []);
  });

  it('the decision is logged with by=default:opt-in', async () => {
    const from = await mark(srv);
    assertOutcome(await on(srv, foreign({ patient: 'pNone' }), 'GET', '/fhir/Observation/o1-pNone'), 404, 'read');
    await assertLogged(srv, from, { patient: 'pNone', org: ORG_A, purpose: 'TREAT', type: 'Observation', decision: 'deny', by: 'default:opt-in' });
  });
});

describe('a permit consent', () => {
  it('actor by identifier: reads 200 and searches return all of the patient\'s data (system/*.rs and patient/*.rs)', async () => {
    await assertSees(srv, foreign({ patient: 'pPermit' }), 'pPermit', ALL, 'A on pPermit');
    await assertSees(srv, foreign({ patient: 'pPermit', scope: 'patient/*.rs' }), 'pPermit', ALL, 'A (patient/*.rs) on pPermit');
    const ev = await on(srv, foreign({ patient: 'pPermit' }), 'GET', '/fhir/Patient/pPermit/$everything?_count=200');
    const got = idsOf(ev, '$everything');
    for (const k of ALL) assert.ok(got.includes(ref('pPermit', k)), `$everything lacks ${ref('pPermit', k)}: ${got.join()}`);
  });

  it('actor as a literal reference to a stored Organization with the identifier: the same', async () => {
    await assertSees(srv, foreign({ patient: 'pRef' }), 'pRef', ALL, 'A on pRef');
  });

  it('the patient\'s data only, never another patient\'s (not even one that permits the same organisation)', async () => {
    const tok = foreign({ patient: 'pPermit' });
    for (const p of ['pRef', 'pNone', 'pCurrent']) {
      for (const k of ALL) assertOutcome(await on(srv, tok, 'GET', `/fhir/${ref(p, k)}`), 404, `A in pPermit's context: GET ${ref(p, k)}`);
      assert.deepEqual(idsOf(await on(srv, tok, 'GET', `/fhir/Observation?patient=${p}`), `Observation?patient=${p}`), []);
      const ev = await on(srv, tok, 'GET', `/fhir/Patient/${p}/$everything`);
      if (ev.status !== 404) assert.deepEqual(idsOf(ev, `$everything of ${p}`), []);
    }
    const queries = ['Observation?_count=500', 'Condition?_count=500', 'Encounter?_count=500', 'Patient?_count=500',
      '?_type=Observation,Condition,Patient&_count=500', 'Patient/pPermit/$everything?_count=500', 'Encounter?_include=Encounter:subject',
      'Patient?_revinclude=Observation:subject'];
    for (const q of queries) {
      const got = idsOf(await on(srv, tok, 'GET', `/fhir/${q}`), q);
      assert.ok(got.length > 0, `${q}: none of pPermit's own data`);
      const others = got.filter((id) => ownerOf(id) && ownerOf(id) !== 'pPermit');
      assert.deepEqual(others, [], `${q} shows other patients' data`);
    }
  });

  it('the decision is logged with by=Consent/<id>, once for a read', async () => {
    const from = await mark(srv);
    assert.equal((await on(srv, foreign({ patient: 'pPermit' }), 'GET', '/fhir/Observation/o1-pPermit')).status, 200);
    await assertLogged(srv, from, { patient: 'pPermit', org: ORG_A, purpose: 'TREAT', type: 'Observation', decision: 'permit', by: 'Consent/cn-pPermit' });
    const after = await mark(srv);
    const lines = consentLines(srv, from, after);
    assert.equal(lines.length, 1, `one line per request and type:\n${lines.join('\n')}`);
    const from2 = await mark(srv);
    assert.equal((await on(srv, foreign({ patient: 'pRef' }), 'GET', '/fhir/Condition?patient=pRef')).status, 200);
    await assertLogged(srv, from2, { patient: 'pRef', org: ORG_A, type: 'Condition', decision: 'permit', by: 'Consent/cn-pRef' });
  });

  it('another organisation (B) is not matched by a consent naming A', async () => {
    await seesNothing(srv, foreign({ patient: 'pPermit', org: ORG_B }), 'pPermit', 'B on pPermit (actor identifier A)');
    await seesNothing(srv, foreign({ patient: 'pRef', org: ORG_B }), 'pRef', 'B on pRef (actor Organization/org-a)');
    const from = await mark(srv);
    await on(srv, foreign({ patient: 'pPermit', org: ORG_B }), 'GET', '/fhir/Observation/o1-pPermit');
    await assertLogged(srv, from, { patient: 'pPermit', org: ORG_B, type: 'Observation', decision: 'deny', by: 'default:opt-in' });
  });
});

describe('a deny consent on an opt-out server', () => {
  let out;
  before(async () => { out = await seeded(['--organization', OWN, '--consent-default', 'opt-out']); });
  after(async () => { if (out) await out.stop(); });

  it('the foreign organisation sees nothing of the patient whose consent denies it', async () => {
    await seesNothing(out, foreign({ patient: 'pDeny' }), 'pDeny', 'A on pDeny (opt-out)');
    const ev = await on(out, foreign({ patient: 'pDeny' }), 'GET', '/fhir/Patient/pDeny/$everything');
    if (ev.status !== 404) assert.deepEqual(idsOf(ev, '$everything'), []);
  });

  it('but sees all of a patient without consent (opt-out), and only that patient', async () => {
    await assertSees(out, foreign({ patient: 'pNone' }), 'pNone', ALL, 'A on pNone (opt-out)');
    const got = idsOf(await on(out, foreign({ patient: 'pNone' }), 'GET', '/fhir/Observation?_count=500'), 'Observation');
    assert.deepEqual(got, OBS.map((k) => ref('pNone', k)).sort());
  });

  it('logs by=Consent/cn-pDeny (deny) and by=default:opt-out (permit)', async () => {
    const from = await mark(out);
    assertOutcome(await on(out, foreign({ patient: 'pDeny' }), 'GET', '/fhir/Observation/o1-pDeny'), 404, 'pDeny');
    await assertLogged(out, from, { patient: 'pDeny', org: ORG_A, type: 'Observation', decision: 'deny', by: 'Consent/cn-pDeny' });
    assert.equal((await on(out, foreign({ patient: 'pNone' }), 'GET', '/fhir/Observation/o1-pNone')).status, 200);
    await assertLogged(out, from, { patient: 'pNone', org: ORG_A, type: 'Observation', decision: 'permit', by: 'default:opt-out' });
  });

  it('a purpose that is not configured for break-the-glass does not override the deny', async () => {
    await seesNothing(out, foreign({ patient: 'pBtg', purpose: 'BTG' }), 'pBtg', 'A with BTG on pBtg, opt-out server without --break-glass');
  });
});

describe('nested provisions: the deepest matching provision with a type decides', () => {
  it('root permit for A, nested deny for class Condition: Observations visible, Conditions hidden', async () => {
    const tok = foreign({ patient: 'pNested' });
    await assertSees(srv, tok, 'pNested', ['Patient', 'e', ...OBS], 'A on pNested');
    const ev = await on(srv, tok, 'GET', '/fhir/Patient/pNested/$everything?_count=200');
    if (ev.status !== 404) {
      const got = idsOf(ev, '$everything');
      assert.deepEqual(got.filter((id) => id.startsWith('Condition/')), [], '$everything shows a denied Condition');
    }
  });

  it('nested deny for security label R: the R-labelled Observation hidden, the others visible; logged as partial', async () => {
    const from = await mark(srv);
    await assertSees(srv, foreign({ patient: 'pLabel' }), 'pLabel', ALL.filter((k) => k !== 'or'), 'A on pLabel');
    await assertLogged(srv, from, { patient: 'pLabel', org: ORG_A, type: 'Observation', decision: 'partial', by: 'Consent/cn-pLabel' });
    // a label matters only where a provision names it
    const r = await on(srv, foreign({ patient: 'pPermit' }), 'GET', '/fhir/Observation/or-pPermit');
    assert.equal(r.status, 200, 'R label without a provision on labels');
  });

  it('deny and permit at the same depth (nested, same class): deny wins', async () => {
    await assertSees(srv, foreign({ patient: 'pEqual' }), 'pEqual', ['Patient', 'e', ...COND], 'A on pEqual');
  });

  it('deny and permit at the same depth in two consents (both roots): deny wins', async () => {
    const from = await mark(srv);
    await seesNothing(srv, foreign({ patient: 'pTwo' }), 'pTwo', 'A on pTwo');
    await assertLogged(srv, from, { patient: 'pTwo', org: ORG_A, decision: 'deny', by: 'Consent/cn-pTwo-deny' });
  });

  it('a deeper permit beats a root deny: Observations visible, the rest hidden', async () => {
    await assertSees(srv, foreign({ patient: 'pDeep' }), 'pDeep', OBS, 'A on pDeep');
  });

  it('a permit with a condition Bron cannot check (code) does not match; the default decides', async () => {
    await assertSees(srv, foreign({ patient: 'pUncheck' }), 'pUncheck', OBS, 'A on pUncheck');
  });

  it('a deny with a condition Bron cannot check (data) matches', async () => {
    await seesNothing(srv, foreign({ patient: 'pUncheckDeny' }), 'pUncheckDeny', 'A on pUncheckDeny');
  });
});

describe('period, purpose, status and scope of a consent', () => {
  it('a provision whose period ended yesterday does not permit', async () => {
    await seesNothing(srv, foreign({ patient: 'pExpired' }), 'pExpired', 'A on pExpired');
  });

  it('a provision whose period starts tomorrow does not permit', async () => {
    await seesNothing(srv, foreign({ patient: 'pFuture' }), 'pFuture', 'A on pFuture');
  });

  it('a provision whose period holds now permits', async () => {
    await assertSees(srv, foreign({ patient: 'pCurrent' }), 'pCurrent', ALL, 'A on pCurrent');
  });

  it('a permit for purpose TREAT: a token for HRESCH sees nothing; TREAT and no purpose (TREAT) see everything', async () => {
    await seesNothing(srv, foreign({ patient: 'pPurpose', purpose: 'HRESCH' }), 'pPurpose', 'A HRESCH on pPurpose');
    await assertSees(srv, foreign({ patient: 'pPurpose', purpose: 'TREAT' }), 'pPurpose', ALL, 'A TREAT on pPurpose');
    await assertSees(srv, foreign({ patient: 'pPurpose', purpose: null }), 'pPurpose', ALL, 'A without purpose on pPurpose');
  });

  it('an inactive consent is ignored', async () => {
    await seesNothing(srv, foreign({ patient: 'pInactive' }), 'pInactive', 'A on pInactive');
  });

  it('a consent of another scope (research) is ignored', async () => {
    await seesNothing(srv, foreign({ patient: 'pResearch' }), 'pResearch', 'A on pResearch');
  });
});

describe('break-the-glass', () => {
  let noBtg;
  before(async () => { noBtg = await seeded(['--organization', OWN]); });
  after(async () => { if (noBtg) await noBtg.stop(); });

  it('without it, the consent that denies A holds (control)', async () => {
    await seesNothing(srv, foreign({ patient: 'pBtg' }), 'pBtg', 'A TREAT on pBtg');
  });

  it('purpose BTG overrides a consent deny; logged by=break-the-glass:Consent/<id>', async () => {
    const from = await mark(srv);
    await assertSees(srv, foreign({ patient: 'pBtg', purpose: 'BTG' }), 'pBtg', ALL, 'A BTG on pBtg');
    await assertLogged(srv, from, { patient: 'pBtg', org: ORG_A, purpose: 'BTG', type: 'Observation', by: 'break-the-glass:Consent/cn-pBtg' });
  });

  it('purpose BTG overrides the opt-in default; logged by=break-the-glass:default:opt-in', async () => {
    const from = await mark(srv);
    await assertSees(srv, foreign({ patient: 'pNone', purpose: 'BTG' }), 'pNone', ALL, 'A BTG on pNone');
    await assertLogged(srv, from, { patient: 'pNone', org: ORG_A, purpose: 'BTG', type: 'Observation', by: 'break-the-glass:default:opt-in' });
  });

  it('the same token on a server started without --break-glass sees nothing', async () => {
    await seesNothing(noBtg, foreign({ patient: 'pBtg', purpose: 'BTG' }), 'pBtg', 'A BTG on pBtg, no --break-glass');
    await seesNothing(noBtg, foreign({ patient: 'pNone', purpose: 'BTG' }), 'pNone', 'A BTG on pNone, no --break-glass');
    const from = await mark(noBtg);
    await on(noBtg, foreign({ patient: 'pBtg', purpose: 'BTG' }), 'GET', '/fhir/Observation/o1-pBtg');
    await assertLogged(noBtg, from, { patient: 'pBtg', purpose: 'BTG', type: 'Observation', decision: 'deny', by: 'Consent/cn-pBtg' });
  });
});

describe('writes by a foreign organisation', () => {
  const cruds = (p) => foreign({ patient: p, scope: 'system/*.cruds' });
  const markerCount = async (marker) => idsOf(await on(srv, ADMIN(), 'GET', `/fhir/Observation?code:text=${marker}&_count=50`), marker).length;

  it('a consent that permits (no action): create of an Observation for its patient 201, stored', async () => {
    const r = await on(srv, cruds('pWrite'), 'POST', '/fhir/Observation', observation(undefined, 'pWrite', 'written-pWrite'));
    assert.equal(r.status, 201, `${r.status} ${r.text.slice(0, 300)}`);
    const back = await on(srv, ADMIN(), 'GET', `/fhir/Observation/${r.json.id}`);
    assert.equal(back.status, 200);
    assert.equal(back.json.code.text, 'written-pWrite');
    assert.equal(await markerCount('written-pWrite'), 1);
  });

  it('no consent (opt-in): create 403, update 403, and nothing stored or changed', async () => {
    const r = await on(srv, cruds('pNone'), 'POST', '/fhir/Observation', observation(undefined, 'pNone', 'written-pNone'));
    assertOutcome(r, 403, 'create without consent');
    assert.equal(await markerCount('written-pNone'), 0, 'the refused create was stored');
    const u = await on(srv, cruds('pNone'), 'PUT', '/fhir/Observation/o1-pNone', observation('o1-pNone', 'pNone', 'changed-pNone'));
    assertOutcome(u, [403, 404], 'update without consent');
    const back = await on(srv, ADMIN(), 'GET', '/fhir/Observation/o1-pNone');
    assert.equal(back.json.code.text, 'marker-o1-pNone');
    assert.equal(back.json.meta.versionId, '1');
  });

  it('a consent for action access only: reads 200, create 403', async () => {
    await assertSees(srv, cruds('pReadOnly'), 'pReadOnly', ALL, 'A on pReadOnly');
    assertOutcome(await on(srv, cruds('pReadOnly'), 'POST', '/fhir/Observation', observation(undefined, 'pReadOnly', 'written-pReadOnly')), 403, 'create with access only');
    assert.equal(await markerCount('written-pReadOnly'), 0);
  });

  it('a consent for action correct only: reads as if nothing existed, create 201', async () => {
    await seesNothing(srv, cruds('pCorrectOnly'), 'pCorrectOnly', 'A on pCorrectOnly');
    const r = await on(srv, cruds('pCorrectOnly'), 'POST', '/fhir/Observation', observation(undefined, 'pCorrectOnly', 'written-pCorrectOnly'));
    assert.equal(r.status, 201, `${r.status} ${r.text.slice(0, 300)}`);
  });

  it('a consent that permits only some labels (partial) does not permit writes: 403', async () => {
    assertOutcome(await on(srv, cruds('pLabel'), 'POST', '/fhir/Observation', observation(undefined, 'pLabel', 'written-pLabel')), 403, 'create under a partial consent');
    assert.equal(await markerCount('written-pLabel'), 0);
  });

  it('a consent that denies: create 403; another organisation than the one permitted: 403', async () => {
    assertOutcome(await on(srv, cruds('pBtg'), 'POST', '/fhir/Observation', observation(undefined, 'pBtg', 'written-pBtg')), 403, 'create under a deny');
    const b = foreign({ patient: 'pWrite', org: ORG_B, scope: 'system/*.cruds' });
    assertOutcome(await on(srv, b, 'POST', '/fhir/Observation', observation(undefined, 'pWrite', 'written-by-B')), 403, 'B on pWrite');
    assert.equal(await markerCount('written-pBtg'), 0);
    assert.equal(await markerCount('written-by-B'), 0);
  });
});
