// The query generator: searches drawn from the loaded data (so they match
// something), plus some that match nothing, over every parameter type,
// modifier and prefix. Deterministic for a given data set (seeded PRNG).
import { stringParts, tokenCodes, tokenTexts, valueRanges, refTarget, evalNodes } from './oracle.mjs';

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

// parameters the oracle does not model (full text, lists, named queries, geo)
const SKIP = new Set(['_text', '_content', '_list', '_query', '_filter', '_has', 'near', '_type']);

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------ serialization

const esc = (s) => String(s).replace(/[\\,$|]/g, (c) => `\\${c}`);

function tokenStr(q) {
  return q.system === undefined ? esc(q.code) : `${esc(q.system)}|${esc(q.code)}`;
}

function valueStr(params, sp, modifier, q) {
  if (modifier === 'missing') return q;
  switch (sp.type) {
    case 'string': case 'uri': return esc(q);
    case 'token':
      if (modifier === 'text') return esc(q);
      if (modifier === 'of-type') return `${esc(q.system)}|${esc(q.code)}|${esc(q.value)}`;
      return tokenStr(q);
    case 'date': case 'number': return `${q.bare ? '' : q.prefix}${q.value}`;
    case 'quantity': {
      let s = `${q.bare ? '' : q.prefix}${q.value}`;
      if (q.system !== undefined || q.code !== undefined) s += `|${esc(q.system || '')}|${esc(q.code || '')}`;
      return s;
    }
    case 'reference': return modifier === 'identifier' ? tokenStr(q) : esc(q);
    case 'composite':
      return sp.component.map((c, i) => valueStr(params, params.byUrl.get(c.definition), undefined, q[i])).join('$');
    default: throw new Error(sp.type);
  }
}

/** name=value pairs (unencoded) of one structured parameter on `type`. */
function paramPair(params, type, p) {
  if (p.name === '_has') {
    const [k, v] = paramPair(params, p.hasType, p.chain);
    return [`_has:${p.hasType}:${p.hasParam}:${k}`, v];
  }
  const sp = params.get(type, p.name);
  let key = p.name + (p.modifier ? `:${p.modifier}` : '');
  if (p.chain) {
    const target = p.modifier || (sp.target || [])[0];
    const [k, v] = paramPair(params, target, p.chain);
    return [`${key}.${k}`, v];
  }
  return [key, p.values.map((q) => valueStr(params, sp, p.modifier, q)).join(',')];
}

/** The query string (after '?') of a structured query. */
export function toUrl(params, query) {
  return query.params.map((p) => paramPair(params, query.type, p))
    .map(([k, v]) => `${encodeURIComponent(k).replace(/%3A/g, ':')}=${encodeURIComponent(v).replace(/%7C/g, '|').replace(/%24/g, '$').replace(/%2C/g, ',')}`)
    .join('&');
}

// --------------------------------------------------------------- generation

function truncDate(s, prec) {
  // prec: 0 year, 1 month, 2 day, 3 as given
  if (prec === 0) return s.slice(0, 4);
  if (prec === 1) return s.slice(0, 7);
  if (prec === 2) return s.slice(0, 10);
  return s;
}

function roundNum(v, how) {
  if (how === 0) return String(v);
  if (how === 1) return String(Math.round(v));
  return v.toFixed(1);
}

export function generate(params, oracle, types) {
  const rand = rng(20240604);
  const pick = (a) => a[Math.floor(rand() * a.length)];
  const picks = (a, n) => {
    const c = [...a];
    const out = [];
    while (c.length && out.length < n) out.push(c.splice(Math.floor(rand() * c.length), 1)[0]);
    return out;
  };
  const out = [];
  const seen = new Set();
  const add = (type, ps) => {
    const q = { type, params: ps };
    q.url = `${type}?${toUrl(params, q)}`;
    if (seen.has(q.url)) return;
    seen.add(q.url);
    out.push(q);
  };
  const one = (name, values, modifier, chain) => ({ name, modifier, values, chain });

  for (const type of types) {
    const list = oracle.resources[type] || [];
    if (!list.length) continue;
    for (const sp of params.all(type).sort((a, b) => (a.code < b.code ? -1 : 1))) {
      if (SKIP.has(sp.code) || sp.type === 'special') continue;
      const vals = list.flatMap((r) => oracle.values(r, sp).map((v) => ({ ...v, r })));
      const n = sp.code;
      if (!vals.length) {
        if (sp.type !== 'composite') add(type, [one(n, ['true'], 'missing')]);
        continue;
      }
      if (sp.type !== 'composite' && rand() < 0.5) add(type, [one(n, [pick(['true', 'false'])], 'missing')]);
      switch (sp.type) {
        case 'string': {
          const parts = [...new Set(vals.flatMap(stringParts))].filter((s) => s.length);
          for (const p of picks(parts, 2)) {
            add(type, [one(n, [p])]);
            add(type, [one(n, [p.slice(0, Math.max(1, Math.ceil(p.length / 2))).toUpperCase()])]);
            add(type, [one(n, [p], 'exact')]);
            if (p.toUpperCase() !== p) add(type, [one(n, [p.toUpperCase()], 'exact')]);
            if (p.length > 3) add(type, [one(n, [p.slice(1, p.length - 1).toLowerCase()], 'contains')]);
            if (/[aeiou]/.test(p)) add(type, [one(n, [p.replace(/[aeiou]/, (c) => ({ a: 'á', e: 'é', i: 'ï', o: 'ô', u: 'ü' })[c])])]);
          }
          if (parts.length > 1) add(type, [one(n, picks(parts, 2))]);
          if (parts.length > 1) add(type, picks(parts, 2).map((p) => one(n, [p.slice(0, 2)])));
          add(type, [one(n, ['zzqxv'])]);
          break;
        }
        case 'token': {
          const codes = vals.flatMap((v) => tokenCodes(v).map((c) => ({ ...c, t: v.t, v: v.v })));
          const uniq = [...new Map(codes.filter((c) => c.code !== undefined).map((c) => [`${c.system}|${c.code}`, c])).values()];
          for (const c of picks(uniq, sp.code === '_id' ? 3 : 2)) {
            add(type, [one(n, [{ code: c.code }])]);
            if (c.system) {
              add(type, [one(n, [{ system: c.system, code: c.code }])]);
              add(type, [one(n, [{ system: c.system, code: '' }])]);
              add(type, [one(n, [{ system: c.system, code: c.code }], 'not')]);
            } else {
              if (!c.implicit && !c.cp) add(type, [one(n, [{ system: '', code: c.code }])]);
              add(type, [one(n, [{ code: c.code }], 'not')]);
            }
          }
          if (uniq.length > 1) add(type, [one(n, picks(uniq, 2).map((c) => (c.system ? { system: c.system, code: c.code } : { code: c.code })))]);
          if (uniq.length > 1) add(type, [one(n, picks(uniq, 2).map((c) => ({ code: c.code })))]);
          if (uniq.length > 1) {
            const [a, b] = picks(uniq, 2);
            add(type, [one(n, [{ code: a.code }]), one(n, [{ code: b.code }], 'not')]);
          }
          const texts = [...new Set(vals.flatMap(tokenTexts))];
          for (const t of picks(texts, 1)) {
            add(type, [one(n, [t], 'text')]);
            add(type, [one(n, [t.slice(0, Math.max(1, Math.floor(t.length / 2))).toLowerCase()], 'text')]);
          }
          const typed = vals.filter((v) => v.t === 'Identifier' && v.v.type && (v.v.type.coding || []).length && v.v.value);
          for (const v of picks(typed, 2)) {
            const c = v.v.type.coding[0];
            add(type, [one(n, [{ system: c.system, code: c.code, value: v.v.value }], 'of-type')]);
          }
          if (typed.length) {
            const c = typed[0].v.type.coding[0];
            add(type, [one(n, [{ system: c.system, code: c.code, value: 'no-such-value' }], 'of-type')]);
          }
          add(type, [one(n, [{ code: 'zz-no-match' }])]);
          break;
        }
        case 'date': {
          const strs = vals.flatMap((v) => {
            if (typeof v.v === 'string') return [v.v];
            if (v.t === 'Period') return [v.v.start, v.v.end].filter(Boolean);
            return [];
          }).filter((s) => /^\d{4}/.test(s));
          if (!strs.length) break;
          for (const s of picks([...new Set(strs)], 2)) {
            for (const prefix of PREFIXES) {
              const prec = Math.floor(rand() * 4);
              add(type, [one(n, [{ prefix, value: truncDate(s, prec), bare: prefix === 'eq' && rand() < 0.5 }])]);
            }
          }
          const [a, b] = [pick(strs), pick(strs)].sort();
          add(type, [one(n, [{ prefix: 'ge', value: truncDate(a, 2) }]), one(n, [{ prefix: 'le', value: truncDate(b, 1) }])]);
          add(type, [one(n, [{ prefix: 'eq', value: truncDate(a, 0) }, { prefix: 'eq', value: truncDate(b, 1) }])]);
          add(type, [one(n, [{ prefix: 'eq', value: '1871-03-04' }])]);
          break;
        }
        case 'number': case 'quantity': {
          const nums = vals.filter((v) => typeof v.v === 'number' || (v.v && typeof v.v.value === 'number'));
          for (const v of picks(nums, 2)) {
            const x = typeof v.v === 'number' ? v.v : v.v.value;
            for (const prefix of PREFIXES) {
              const q = { prefix, value: roundNum(x, Math.floor(rand() * 3)), bare: prefix === 'eq' && rand() < 0.5 };
              if (sp.type === 'quantity' && v.v.code) {
                const u = rand();
                if (u < 0.4) { q.system = v.v.system; q.code = v.v.code; } else if (u < 0.6) { q.system = ''; q.code = v.v.unit || v.v.code; }
              }
              add(type, [one(n, [q])]);
            }
            if (sp.type === 'quantity') add(type, [one(n, [{ prefix: 'gt', value: '0', system: 'http://unitsofmeasure.org', code: 'no-such-unit' }])]);
          }
          const xs = nums.map((v) => (typeof v.v === 'number' ? v.v : v.v.value)).sort((a, b) => a - b);
          if (xs.length > 1) {
            const lo = xs[Math.floor(xs.length / 4)];
            const hi = xs[Math.floor((3 * xs.length) / 4)];
            add(type, [one(n, [{ prefix: 'ge', value: roundNum(lo, 0) }]), one(n, [{ prefix: 'lt', value: roundNum(hi, 0) }])]);
            add(type, [one(n, [{ prefix: 'lt', value: roundNum(lo, 1) }, { prefix: 'gt', value: roundNum(hi, 1) }])]);
          }
          break;
        }
        case 'reference': {
          const tg = vals.map((v) => ({ ...refTarget(v, oracle.base), v })).filter((t) => t.type);
          const uniq = [...new Map(tg.map((t) => [`${t.type}/${t.id}`, t])).values()];
          for (const t of picks(uniq, 2)) {
            add(type, [one(n, [`${t.type}/${t.id}`])]);
            add(type, [one(n, [t.id])]);
            add(type, [one(n, [t.id], t.type)]);
            add(type, [one(n, [`${oracle.base}/${t.type}/${t.id}`])]);
          }
          if (uniq.length > 1) add(type, [one(n, picks(uniq, 2).map((t) => `${t.type}/${t.id}`))]);
          // absolute URLs of other servers and canonical URLs: matched as written
          const abs = [...new Set(vals.map((v) => refTarget(v, oracle.base)).filter((t) => t && !t.type && /^https?:\/\//.test(t.url)).map((t) => t.url))];
          for (const u of picks(abs, 2)) add(type, [one(n, [u])]);
          add(type, [one(n, [`${(sp.target || ['Patient'])[0]}/no-such-id`])]);
          const ids = vals.filter((v) => v.v && v.v.identifier && v.v.identifier.value);
          for (const v of picks(ids, 1)) add(type, [one(n, [{ system: v.v.identifier.system, code: v.v.identifier.value }], 'identifier')]);
          add(type, [one(n, [{ system: 'http://example.org/ids', code: 'none' }], 'identifier')]);
          // chains: a parameter of the target, valued from the target itself
          for (const t of picks(uniq, 2)) {
            const target = oracle.byRef.get(`${t.type}/${t.id}`);
            if (!target) continue;
            const cands = params.all(t.type).filter((c) => ['string', 'token', 'date'].includes(c.type) && !SKIP.has(c.code) &&
              !['_id', '_lastUpdated'].includes(c.code) && oracle.values(target, c).length);
            const c = pick(cands);
            if (!c) continue;
            const cv = oracle.values(target, c);
            let inner;
            if (c.type === 'string') inner = one(c.code, [stringParts(cv[0])[0]]);
            else if (c.type === 'token') {
              const tc = cv.flatMap(tokenCodes).find((x) => x.code !== undefined);
              if (!tc) continue;
              inner = one(c.code, [tc.system ? { system: tc.system, code: tc.code } : { code: tc.code }]);
            } else {
              const r = valueRanges(cv[0])[0];
              const s = typeof cv[0].v === 'string' ? cv[0].v : cv[0].v.start;
              if (!r || !s) continue;
              inner = one(c.code, [{ prefix: pick(['eq', 'ge', 'le']), value: truncDate(s, 2) }]);
            }
            const typed = (sp.target || []).length !== 1 || rand() < 0.5;
            add(type, [{ name: n, modifier: typed ? t.type : undefined, chain: inner }]);
          }
          break;
        }
        case 'uri': {
          const us = [...new Set(vals.map((v) => v.v).filter((s) => typeof s === 'string'))];
          for (const u of picks(us, 2)) {
            add(type, [one(n, [u])]);
            const cut = u.lastIndexOf('/');
            if (cut > 8) add(type, [one(n, [u.slice(0, cut)], 'below')]);
            add(type, [one(n, [`${u}/child/1`], 'above')]);
            add(type, [one(n, [u.slice(0, -1)])]);
          }
          add(type, [one(n, ['http://example.org/no/such/uri'], 'below')]);
          break;
        }
        case 'composite': {
          const bases = list.flatMap((r) => evalNodes(params, sp.expression, r).map(({ node }) => ({ r, node })));
          const built = [];
          for (const { r, node } of bases) {
            const comps = sp.component.map((c) => {
              const csp = params.byUrl.get(c.definition);
              const cv = evalNodes(params, c.expression, node, r).filter((x) => x.v != null);
              if (!cv.length) return undefined;
              if (csp.type === 'token') {
                const tc = cv.flatMap(tokenCodes)[0];
                return tc && (tc.system ? { system: tc.system, code: tc.code } : { code: tc.code });
              }
              if (csp.type === 'quantity') {
                const v = cv[0].v;
                return typeof v.value === 'number' ? { prefix: pick(['eq', 'gt', 'le', 'ne']), value: roundNum(v.value, Math.floor(rand() * 3)), system: v.system, code: v.code } : undefined;
              }
              if (csp.type === 'date') {
                const s = typeof cv[0].v === 'string' ? cv[0].v : cv[0].v.start;
                return s && { prefix: pick(['eq', 'ge', 'lt']), value: truncDate(s, 2) };
              }
              if (csp.type === 'string') return typeof cv[0].v === 'string' ? cv[0].v.slice(0, 4) : undefined;
              return undefined;
            });
            if (comps.every(Boolean)) built.push(comps);
          }
          for (const comps of picks(built, 3)) add(type, [one(n, [comps])]);
          if (built.length > 1) {
            // mixed: the code of one with the value of another (no match unless they agree)
            const [a, b] = picks(built, 2);
            add(type, [one(n, [[a[0], ...b.slice(1)]])]);
            add(type, [one(n, [a, b])]);
          }
          break;
        }
        default:
          break;
      }
    }
  }
  return out;
}

/** Cross-parameter searches: combinations, chains, _has (nested), _lastUpdated, _tag. */
export function generateExtra(params, oracle) {
  const rand = rng(777);
  const pick = (a) => a[Math.floor(rand() * a.length)];
  const out = [];
  const add = (type, ps) => { const q = { type, params: ps }; q.url = `${type}?${toUrl(params, q)}`; out.push(q); };
  const one = (name, values, modifier, chain) => ({ name, modifier, values, chain });
  const R = oracle.resources;
  const obs = R.Observation || [];
  const codesOf = (r, code) => oracle.values(r, params.get(r.resourceType, code)).flatMap(tokenCodes).filter((c) => c.code);
  for (let i = 0; i < 6 && obs.length; i++) {
    const o = pick(obs);
    const c = codesOf(o, 'code')[0];
    if (!c) continue;
    const d = o.effectiveDateTime || (o.effectivePeriod && o.effectivePeriod.start);
    add('Observation', [one('code', [{ system: c.system, code: c.code }]), one('date', [{ prefix: pick(['ge', 'lt', 'gt', 'le']), value: (d || '2015').slice(0, 7) }])]);
    const subj = o.subject && o.subject.reference;
    if (subj) add('Observation', [one('patient', [subj]), one('code', [{ code: c.code }])]);
    // reverse chains: patients / encounters with such an observation
    add('Patient', [{ name: '_has', hasType: 'Observation', hasParam: 'patient', chain: one('code', [{ system: c.system, code: c.code }]) }]);
    if (o.encounter) add('Encounter', [{ name: '_has', hasType: 'Observation', hasParam: 'encounter', chain: one('code', [{ code: c.code }]) }]);
    // nested: patients with an encounter that has such an observation
    add('Patient', [{ name: '_has', hasType: 'Encounter', hasParam: 'patient', chain: { name: '_has', hasType: 'Observation', hasParam: 'encounter', chain: one('code', [{ code: c.code }]) } }]);
  }
  for (const cond of (R.Condition || []).slice(0, 3)) {
    const c = codesOf(cond, 'code')[0];
    if (c) add('Patient', [{ name: '_has', hasType: 'Condition', hasParam: 'subject', chain: one('code', [{ code: c.code }]) }]);
  }
  add('Patient', [{ name: '_has', hasType: 'Condition', hasParam: 'subject', chain: one('code', [{ code: 'zz-no-match' }]) }]);
  for (const p of (R.Patient || []).slice(0, 3)) {
    const fam = p.name && p.name[0] && p.name[0].family;
    if (!fam) continue;
    add('Patient', [one('name', [fam.slice(0, 3)]), one('birthdate', [{ prefix: 'le', value: p.birthDate }])]);
    add('Observation', [{ name: 'subject', modifier: 'Patient', chain: one('name', [fam]) }, one('category', [{ code: 'vital-signs' }])]);
    add('Encounter', [{ name: 'subject', modifier: 'Patient', chain: one('family', [fam], 'exact') }]);
    add('Claim', [{ name: 'patient', chain: one('gender', [{ code: p.gender }]) }]);
    // double chain: observations of encounters of this patient's name
    add('Observation', [{ name: 'encounter', chain: { name: 'subject', modifier: 'Patient', chain: one('name', [fam]) } }]);
  }
  // _lastUpdated: the moment a resource was stored, at several precisions and prefixes
  for (const type of ['Patient', 'Condition', 'Observation']) {
    const list = R[type] || [];
    if (!list.length) continue;
    const sorted = list.map((r) => r.meta.lastUpdated).sort();
    const mid = sorted[Math.floor(sorted.length / 2)];
    for (const prefix of ['eq', 'gt', 'lt', 'ge', 'le', 'ne', 'sa', 'eb']) add(type, [one('_lastUpdated', [{ prefix, value: mid }])]);
    add(type, [one('_lastUpdated', [{ prefix: 'ge', value: mid.slice(0, 10) }])]);
    add(type, [one('_lastUpdated', [{ prefix: 'lt', value: '2000-01-01' }])]);
  }
  // references to another server's resource of the same type and id as a local one
  for (const o of obs) {
    const ref = o.subject && o.subject.reference;
    const m = ref && /^https?:\/\/(?!127\.0\.0\.1)[^/]+\/.*\b(Patient)\/([^/]+)$/.exec(ref);
    if (!m || ref.startsWith(oracle.base)) continue;
    const local = oracle.byRef.get(`Patient/${m[2]}`);
    add('Observation', [one('subject', [`Patient/${m[2]}`]), one('code', [{ system: 'http://example.org/oracle', code: 'foreign-ref' }])]);
    add('Observation', [one('subject', [m[2]]), one('code', [{ code: 'foreign-ref' }])]);
    add('Observation', [one('subject', [ref])]);
    if (local && local.name) add('Observation', [{ name: 'subject', modifier: 'Patient', chain: one('family', [local.name[0].family], 'exact') }, one('code', [{ code: 'foreign-ref' }])]);
    add('Patient', [{ name: '_has', hasType: 'Observation', hasParam: 'subject', chain: one('code', [{ code: 'foreign-ref' }]) }]);
  }
  // _id with OR, and _id with another parameter
  const pats = R.Patient || [];
  if (pats.length > 2) {
    add('Patient', [one('_id', [{ code: pats[0].id }, { code: pats[1].id }, { code: 'no-such-id' }])]);
    add('Patient', [one('_id', [{ code: pats[0].id }]), one('gender', [{ code: pats[0].gender }])]);
  }
  return out;
}
