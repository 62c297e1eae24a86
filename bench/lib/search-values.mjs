// bench/lib/search-values.mjs - query values for bench/search.sh, drawn from
// the Synthea bundles that were loaded, and the per-server checks.
//
//   node search-values.mjs plan FILELIST PLAN.json [PER_QUERY]
//       reads the bundles named in FILELIST (one path a line, .json or
//       .json.gz) and writes the query mix with PER_QUERY (default 200)
//       varied paths per query; a patient appears as {pid:<Synthea uuid>}
//   node search-values.mjs paths PLAN.json BASE OUTDIR
//       resolves {pid:...} to the server's Patient ids (each server assigns
//       its own; looked up by Patient?identifier=) and writes OUTDIR/<key>.paths
//       (request paths for wrk, one a line) and OUTDIR/all.paths (the mix)
//   node search-values.mjs check PLAN.json SAMPLES TIMEOUT_S SLOW_MS KEYS BASE [BASE2]
//       for the first SAMPLES paths of each query in KEYS ("all" or a comma
//       list): the benchmarked request, timed, on each server, then the
//       number of matches (_summary=count), the number of _revinclude'd
//       resources, and for _sort queries the dates of the first page; prints
//       CHECK lines that search.sh parses (see check() below)
//
// Deterministic: the same files give the same plan (fixed-seed generator).

import fs from 'node:fs';
import zlib from 'node:zlib';

const SYNTHEA = 'https://github.com/synthetichealth/synthea';
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';

let seed = 20260401;
function rnd() {                       // mulberry32
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const enc = encodeURIComponent;

function readBundle(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  return JSON.parse(buf.toString('utf8'));
}

// The query mix. selective: narrowed by a filter to a small part of the data
// (the p95 < 10 ms aim applies to these).
const QUERIES = [
  ['identifier', 'Patient?identifier=', true],
  ['name_birthdate', 'Patient?name=&birthdate=', true],
  ['obs_patient_code_date', 'Observation?patient=&code=&date=ge', true],
  ['condition_code', 'Condition?code=', true],
  ['encounter_revinclude', 'Encounter?patient=&_revinclude=Observation:encounter', true],
  ['obs_code_value', 'Observation?code=&value-quantity=gt', true],
  ['has', 'Patient?_has:Observation:patient:code=', true],
  ['chain', 'Observation?subject:Patient.name=', true],
  ['sort_patient', 'Observation?patient=&_sort=-date&_count=50', true],
  ['sort_all', 'Observation?_sort=-date&_count=50', false],
];

function plan(listFile, outFile, perQuery) {
  const files = fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
  const patients = [];                 // {uuid, family, birthDate}
  const obs = [];                      // {uuid, code, date, value}
  const conds = [];                    // snomed codes, one per Condition
  const obsCodes = new Map();          // loinc code -> [values]
  let resources = 0;
  for (const f of files) {
    const b = readBundle(f);
    const refToUuid = new Map();
    for (const e of b.entry || []) {
      const r = e.resource;
      if (r?.resourceType !== 'Patient') continue;
      const id = (r.identifier || []).find((i) => i.system === SYNTHEA)?.value;
      const off = (r.name || []).find((n) => n.use === 'official') || (r.name || [])[0];
      if (!id || !off?.family || !r.birthDate) continue;
      refToUuid.set(e.fullUrl, id);
      patients.push({ uuid: id, family: off.family, birthDate: r.birthDate });
    }
    for (const e of b.entry || []) {
      const r = e.resource;
      resources++;
      if (r?.resourceType === 'Observation') {
        const c = (r.code?.coding || []).find((x) => x.system === LOINC)?.code;
        const uuid = refToUuid.get(r.subject?.reference);
        const date = (r.effectiveDateTime || '').slice(0, 10);
        if (!c || !uuid || !date) continue;
        const value = typeof r.valueQuantity?.value === 'number' ? r.valueQuantity.value : null;
        obs.push({ uuid, code: c, date, value });
        if (!obsCodes.has(c)) obsCodes.set(c, []);
        if (value !== null) obsCodes.get(c).push(value);
      } else if (r?.resourceType === 'Condition') {
        const c = (r.code?.coding || []).find((x) => x.system === SNOMED)?.code;
        if (c) conds.push(c);
      }
    }
  }
  if (!patients.length || !obs.length || !conds.length) throw new Error('no usable data in ' + listFile);
  const qcodes = [...obsCodes.entries()].filter(([, v]) => v.length >= 5);
  const allCodes = [...obsCodes.keys()];
  const out = { files: files.length, resources, patients: patients.length, queries: [] };
  for (const [key, label, selective] of QUERIES) {
    const paths = [];
    for (let i = 0; i < perQuery; i++) {
      const p = pick(patients), o = pick(obs);
      let q;
      switch (key) {
        case 'identifier': q = `Patient?identifier=${enc(SYNTHEA + '|' + p.uuid)}`; break;
        case 'name_birthdate': q = `Patient?name=${enc(p.family)}&birthdate=${p.birthDate}`; break;
        case 'obs_patient_code_date':
          q = `Observation?patient={pid:${o.uuid}}&code=${enc(LOINC + '|' + o.code)}&date=ge${o.date}`; break;
        case 'condition_code': q = `Condition?code=${enc(SNOMED + '|' + pick(conds))}`; break;
        case 'encounter_revinclude': q = `Encounter?patient={pid:${p.uuid}}&_revinclude=Observation:encounter`; break;
        case 'obs_code_value': {
          // a threshold in the top decile of the code's values: a selective filter
          const [c, vals] = pick(qcodes);
          const s = [...vals].sort((a, b) => a - b);
          const v = s[Math.min(s.length - 1, Math.floor(s.length * (0.9 + 0.1 * rnd())))];
          q = `Observation?code=${enc(LOINC + '|' + c)}&value-quantity=gt${Math.round(v * 10) / 10}`; break;
        }
        case 'has': q = `Patient?_has:Observation:patient:code=${enc(LOINC + '|' + pick(allCodes))}`; break;
        case 'chain': q = `Observation?subject:Patient.name=${enc(p.family)}`; break;
        case 'sort_patient': q = `Observation?patient={pid:${p.uuid}}&_sort=-date&_count=50`; break;
        case 'sort_all': q = 'Observation?_sort=-date&_count=50'; break;
      }
      paths.push(q);
    }
    out.queries.push({ key, label, selective, paths });
  }
  fs.writeFileSync(outFile, JSON.stringify(out));
  console.log(`plan: ${files.length} bundles, ${resources} resources, ${patients.length} patients, ` +
    `${obs.length} coded Observations, ${conds.length} Conditions, ${QUERIES.length} queries x ${perQuery} paths`);
}

async function getJson(url, timeoutS = 60) {
  for (let attempt = 0; ; attempt++) {
    const t0 = process.hrtime.bigint();
    try {
      const r = await fetch(url, { headers: { accept: 'application/fhir+json' }, signal: AbortSignal.timeout(timeoutS * 1000) });
      const text = await r.text();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let body = null;
      try { body = JSON.parse(text); } catch { /* keep null */ }
      return { status: r.status, body, text, ms };
    } catch (e) {
      if (e.name === 'TimeoutError') return { status: 0, body: null, text: `no answer within ${timeoutS} s`, ms: timeoutS * 1000, timeout: true };
      if (attempt >= 3) throw e;
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

async function pidMap(planObj, base) {
  const uuids = new Set();
  for (const q of planObj.queries) for (const p of q.paths) for (const m of p.matchAll(/\{pid:([^}]+)\}/g)) uuids.add(m[1]);
  const map = new Map();
  const list = [...uuids];
  let next = 0;
  async function worker() {
    while (next < list.length) {
      const u = list[next++];
      const r = await getJson(`${base}/Patient?identifier=${enc(SYNTHEA + '|' + u)}`);
      const id = r.body?.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id;
      if (!id) throw new Error(`${base}: no Patient with identifier ${u} (status ${r.status})`);
      map.set(u, id);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return map;
}

const resolve = (p, map) => p.replace(/\{pid:([^}]+)\}/g, (_, u) => map.get(u));

async function paths(planFile, base, outDir) {
  const planObj = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const map = await pidMap(planObj, base);
  const prefix = new URL(base).pathname.replace(/\/+$/, '');
  fs.mkdirSync(outDir, { recursive: true });
  const all = [];
  for (const q of planObj.queries) {
    const lines = q.paths.map((p) => `${prefix}/${resolve(p, map)}`);
    fs.writeFileSync(`${outDir}/${q.key}.paths`, lines.join('\n') + '\n');
    all.push(...lines.slice(0, 20));
  }
  fs.writeFileSync(`${outDir}/all.paths`, all.join('\n') + '\n');
  console.log(`paths: ${base}: ${map.size} patients resolved, ${planObj.queries.length} path files in ${outDir}`);
}

// One sample on one server: the benchmarked request itself, timed (ms), then
// what it matched: total (_summary=count; for _sort queries the page), the
// resources a _revinclude added (when the page holds every match), the dates
// of a _sort page.
async function probe(base, path, key, timeoutS) {
  const out = {};
  const r = await getJson(`${base}/${path}`, timeoutS);
  out.ms = r.ms;
  if (r.timeout) return { ...out, error: 'timeout', timeout: true };
  if (r.status !== 200) return { ...out, error: `status ${r.status}: ${r.text.slice(0, 200).replace(/\s+/g, ' ')}` };
  const entries = r.body?.entry || [];
  const match = entries.filter((e) => (e.search?.mode || 'match') === 'match');
  out.page = match.length;
  if (key.startsWith('sort')) {
    out.dates = match.map((e) => e.resource?.effectiveDateTime || e.resource?.effectivePeriod?.start || e.resource?.issued || '-')
      .map((d) => d.slice(0, 19));
    return out;
  }
  const c = await getJson(`${base}/${path}&_summary=count`, timeoutS);
  out.total = c.status === 200 && typeof c.body?.total === 'number' ? c.body.total : `status ${c.status}`;
  if (key === 'encounter_revinclude' && typeof out.total === 'number' && out.total <= match.length) {
    out.included = entries.length - match.length;
  }
  return out;
}

function describe(o) {
  const parts = [`${o.ms.toFixed(1)} ms`];
  if (o.error) parts.push(o.error);
  if (o.total !== undefined) parts.push(`matches=${o.total}`);
  if (o.included !== undefined) parts.push(`included=${o.included}`);
  if (o.page !== undefined) parts.push(`page=${o.page}`);
  if (o.dates) parts.push(`first=${o.dates[0] || '-'} last=${o.dates[o.dates.length - 1] || '-'}`);
  return parts.join(' ');
}

function same(a, b) {
  if (a.error || b.error) return false;
  if (a.total !== undefined && b.total !== undefined && a.total !== b.total) return false;
  if (a.included !== undefined && b.included !== undefined && a.included !== b.included) return false;
  if (a.dates && b.dates) {
    if (a.page !== b.page) return false;                 // same dates in the same order (ids differ)
    for (let i = 0; i < a.dates.length; i++) {
      if (Date.parse(a.dates[i]) !== Date.parse(b.dates[i])) return false;
    }
  }
  return true;
}

// check PLAN SAMPLES TIMEOUT SLOW_MS KEYS BASE [BASE2]: up to SAMPLES distinct
// paths per query (KEYS: comma list or "all"); once the second server took
// more than SLOW_MS on a sample, no further samples of that query (it is the
// peer without indexes; its figures then come from these samples). Lines:
//   CHECK key ok|MISMATCH|TIMEOUT ms=A[,B] totals=A[,B] path [bron: ...] [peer: ...]
// ($BENCH_CHECK_LABELS, e.g. "sqlite,postgresql", names the two otherwise).
async function check(planFile, samples, timeoutS, slowMs, keys, bases) {
  const labels = (process.env.BENCH_CHECK_LABELS || 'bron,peer').split(',');
  const planObj = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const maps = [];
  for (const b of bases) maps.push(await pidMap(planObj, b));
  for (const q of planObj.queries) {
    if (keys !== 'all' && !keys.split(',').includes(q.key)) continue;
    const seen = new Set();
    for (const p of q.paths) {
      if (seen.has(p)) continue;
      seen.add(p);
      if (seen.size > samples) break;
      const res = [];
      for (let i = 0; i < bases.length; i++) res.push(await probe(bases[i], resolve(p, maps[i]), q.key, timeoutS));
      const verdict = res.some((r) => r.timeout) ? 'TIMEOUT' : res.length < 2 || same(res[0], res[1]) ? 'ok' : 'MISMATCH';
      const vals = res.map((r, i) => `[${labels[i] ?? labels[1]}: ${describe(r)}]`).join(' ');
      const t = res.map((r) => (typeof r.total === 'number' ? r.total : r.page ?? '-')).join(',');
      const ms = res.map((r) => r.ms.toFixed(2)).join(',');
      console.log(`CHECK ${q.key} ${verdict} ms=${ms} totals=${t} ${p} ${vals}`);
      if (res.length > 1 && res[1].ms > slowMs) break;
    }
  }
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'plan') plan(args[0], args[1], Number(args[2] || 200));
  else if (mode === 'paths') await paths(args[0], args[1], args[2]);
  else if (mode === 'check') await check(args[0], Number(args[1]), Number(args[2]), Number(args[3]), args[4], args.slice(5));
  else { console.error('usage: search-values.mjs plan|paths|check ...'); process.exit(2); }
} catch (e) {
  console.error(`search-values: ${e.message}`);
  process.exit(1);
}
