// tests/soak/prepare.mjs - the data side of the soak test (tests/soak/soak.sh).
//
//   node prepare.mjs generate DIR N
//       writes N transaction Bundles DIR/patient-<i>.json, one patient each
//       (Patient, 5 Encounters, 40 Observations, 3 Conditions, all PUT with
//       fixed ids): the base data when ../shared/data/synthea is absent
//   node prepare.mjs lists BASE TOKEN DIR
//       asks the running server at BASE (e.g. http://127.0.0.1:8080/fhir)
//       what was loaded and writes the wrk script's lists into DIR:
//       patients.txt (Patient ids), reads.txt (Type/id of existing
//       resources), searches.txt (search paths: by patient reference, token,
//       date range, string, _count with paging, _sort, _include). Only
//       searches that match at least one resource are kept; fewer than 20
//       such searches, or no resources of a type, is an error (exit 1).
import fs from 'node:fs';
import path from 'node:path';

const LOINC = 'http://loinc.org';
const CODES = [['8867-4', 'Heart rate'], ['8480-6', 'Systolic blood pressure'], ['8462-4', 'Diastolic blood pressure'],
  ['29463-7', 'Body weight'], ['8302-2', 'Body height'], ['2339-0', 'Glucose']];
const FAMILIES = ['Jansen', 'de Vries', 'van den Berg', 'Bakker', 'Visser', 'Smit', 'Meijer', 'de Boer', 'Mulder', 'Bos'];
const GIVENS = ['Anna', 'Daan', 'Emma', 'Sem', 'Julia', 'Lucas', 'Mila', 'Finn', 'Tess', 'Noah'];

function generate(dir, n) {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= n; i++) {
    const pid = `gen-${i}`;
    const entry = [];
    const put = (resource) => entry.push({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } });
    put({
      resourceType: 'Patient', id: pid, gender: i % 2 ? 'female' : 'male',
      birthDate: `${1940 + (i * 7) % 60}-0${1 + (i % 9)}-1${i % 10}`,
      identifier: [{ system: 'urn:soak:mrn', value: `mrn-${i}` }],
      name: [{ family: FAMILIES[i % FAMILIES.length], given: [GIVENS[(i * 3) % GIVENS.length]] }],
    });
    for (let e = 1; e <= 5; e++) {
      put({
        resourceType: 'Encounter', id: `${pid}-e${e}`, status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${pid}` },
        period: { start: `${2015 + e}-03-0${e}T09:00:00Z`, end: `${2015 + e}-03-0${e}T10:00:00Z` },
      });
    }
    for (let o = 1; o <= 40; o++) {
      const [code, display] = CODES[o % CODES.length];
      put({
        resourceType: 'Observation', id: `${pid}-o${o}`, status: 'final',
        code: { coding: [{ system: LOINC, code, display }] },
        subject: { reference: `Patient/${pid}` },
        encounter: { reference: `Encounter/${pid}-e${1 + (o % 5)}` },
        effectiveDateTime: `${2016 + (o % 5)}-0${1 + (o % 9)}-1${o % 10}T10:00:00Z`,
        valueQuantity: { value: 50 + ((i * o) % 100), unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
      });
    }
    for (let c = 1; c <= 3; c++) {
      put({
        resourceType: 'Condition', id: `${pid}-c${c}`,
        code: { coding: [{ system: 'http://snomed.info/sct', code: `${38341000 + c}`, display: `condition ${c}` }] },
        subject: { reference: `Patient/${pid}` }, onsetDateTime: `${2010 + c}-05-01`,
      });
    }
    fs.writeFileSync(path.join(dir, `patient-${i}.json`), JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }));
  }
}

async function get(base, token, q) {
  const res = await fetch(`${base}/${q}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${q}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function lists(base, token, dir) {

  const resources = async (q) => ((await get(base, token, q)).entry || []).map((e) => e.resource);
  const patients = await resources('Patient?_count=1000');
  if (patients.length === 0) throw new Error('no Patients loaded');
  const reads = [];
  const byType = {};
  for (const type of ['Observation', 'Encounter', 'Condition', 'Procedure', 'Immunization', 'MedicationRequest', 'DiagnosticReport']) {
    byType[type] = await resources(`${type}?_count=1000`);
  }
  if (byType.Observation.length === 0 || byType.Encounter.length === 0) throw new Error('no Observations or Encounters loaded');
  for (const p of patients) reads.push(`Patient/${p.id}`);
  // reads weighted as the data is: Observations most, up to 400 of each type
  for (const [type, rs] of Object.entries(byType)) for (const r of rs.slice(0, 400)) reads.push(`${type}/${r.id}`);

  const cand = [];
  const ref = (r) => (r.subject && r.subject.reference) || '';
  const codes = new Map();
  for (const o of byType.Observation) {
    const c = o.code && o.code.coding && o.code.coding[0];
    if (c && c.system && c.code) codes.set(`${c.system}|${c.code}`, (codes.get(`${c.system}|${c.code}`) || 0) + 1);
  }
  const topCodes = [...codes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k]) => k);
  for (const code of topCodes) {
    cand.push(`Observation?code=${encodeURIComponent(code)}&_count=10`);
  }
  for (const p of patients.slice(0, 40)) {
    const pid = p.id;
    cand.push(`Observation?patient=Patient/${pid}&_count=20`);
    cand.push(`Observation?subject=Patient/${pid}&_sort=-date&_count=10`);
    cand.push(`Encounter?patient=${pid}&_count=5`);
    cand.push(`Encounter?patient=${pid}&_include=Encounter:subject&_count=5`);
    cand.push(`Condition?patient=${pid}`);
    const obs = byType.Observation.filter((o) => ref(o) === `Patient/${pid}` && o.effectiveDateTime);
    if (obs.length) {
      const y = Number(obs[0].effectiveDateTime.slice(0, 4));
      cand.push(`Observation?patient=${pid}&date=ge${y}-01-01&date=lt${y + 1}-01-01&_count=20`);
      const c = obs[0].code.coding[0];
      cand.push(`Observation?patient=${pid}&code=${encodeURIComponent(`${c.system}|${c.code}`)}`);
    }
    const fam = p.name && p.name[0] && p.name[0].family;
    if (fam) cand.push(`Patient?family=${encodeURIComponent(fam.slice(0, 3))}`);
    const given = p.name && p.name[0] && p.name[0].given && p.name[0].given[0];
    if (given) cand.push(`Patient?name=${encodeURIComponent(given)}&_count=10`);
    if (p.birthDate) {
      const y = Number(p.birthDate.slice(0, 4));
      cand.push(`Patient?birthdate=ge${y - 5}-01-01&birthdate=lt${y + 5}-01-01&_count=5`);
    }
  }
  const searches = [];
  for (const q of cand) {
    const b = await get(base, token, q);
    if ((b.entry || []).length > 0) searches.push(q);
  }
  if (searches.length < 20) throw new Error(`only ${searches.length} of ${cand.length} searches match anything`);
  fs.writeFileSync(path.join(dir, 'patients.txt'), patients.map((p) => p.id).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'reads.txt'), shuffle(reads).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'searches.txt'), shuffle(searches).join('\n') + '\n');
  console.log(`soak: ${patients.length} patients, ${reads.length} resources to read, ` +
    `${searches.length} of ${cand.length} searches match (kept)`);
}

const [cmd, ...args] = process.argv.slice(2);
try {
  if (cmd === 'generate') generate(args[0], Number(args[1]));
  else if (cmd === 'lists') await lists(args[0], args[1], args[2]);
  else throw new Error('usage: prepare.mjs generate DIR N | lists BASE TOKEN DIR');
} catch (e) {
  console.error(`soak: ${e.message}`);
  process.exit(1);
}
