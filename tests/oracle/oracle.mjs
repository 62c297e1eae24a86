// The oracle: a FHIR R4 search evaluated by brute force over a set of
// resources. Values come from each SearchParameter's FHIRPath expression run
// through fhirpath.js (npm fhirpath, r4 model); the matching rules are written
// here from the R4 search page (hl7.org/fhir/R4/search.html), independently of
// Bron's implementation.
//
// A query is structured (see generate.mjs), not a URL string:
//   { type, params: [ { name, modifier, chain, values: [v, ...] } ] }
// where several params are ANDed, values inside one param are ORed.
// evaluate() returns { match: Set<id>, maybe: Set<id> }: `maybe` holds the
// resources on which the spec leaves the outcome to the server (the `ap`
// prefix's tolerance, the implicit-range reading of gt/lt on a number); they
// are not compared.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

export const FHIRPATH_VERSION = fhirpath.version;

// ---------------------------------------------------------------- parameters

const refIs = {
  fn: (inputs, type) => inputs.map((n) => {
    const d = n && n.data !== undefined ? n.data : n;
    const ref = typeof d === 'string' ? d : d && d.reference;
    const m = ref && /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}$/.exec(ref.replace(/\/_history\/[^/]*$/, ''));
    return !!m && m[1] === type;
  }),
  arity: { 1: ['String'] },
};

export class Params {
  constructor(file) {
    const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
    this.byUrl = new Map();
    this.byBase = new Map(); // base type -> Map(code -> sp)
    for (const { resource: sp } of bundle.entry) {
      this.byUrl.set(sp.url, sp);
      for (const b of sp.base) {
        if (!this.byBase.has(b)) this.byBase.set(b, new Map());
        this.byBase.get(b).set(sp.code, sp);
      }
    }
    this.compiled = new Map();
  }

  /** The SearchParameter `code` for resource type `type`, or undefined. */
  get(type, code) {
    for (const b of [type, 'DomainResource', 'Resource']) {
      const m = this.byBase.get(b);
      if (m && m.has(code)) return m.get(code);
    }
    return undefined;
  }

  /** Every parameter that applies to `type`, with an expression. */
  all(type) {
    const out = new Map();
    for (const b of ['Resource', 'DomainResource', type]) {
      for (const [code, sp] of this.byBase.get(b) || []) if (sp.expression) out.set(code, sp);
    }
    return [...out.values()];
  }

  fn(expression) {
    let f = this.compiled.get(expression);
    if (!f) {
      // `resolve() is T` (the only use of resolve() in R4's search
      // parameters) is decided from the reference's type, as a server does:
      // fhirpath.js's resolve() is asynchronous (it fetches).
      const expr = expression.replace(/resolve\(\) is ([A-Za-z]+)/g, "refIs('$1')");
      f = fhirpath.compile(expr, r4, { resolveInternalTypes: false, userInvocationTable: { refIs } });
      this.compiled.set(expression, f);
    }
    return f;
  }
}

// R4's expressions use `as` on collections (`(Observation.component.value as
// Quantity)`), which FHIRPath 2.0 (and fhirpath.js) reject when there is more
// than one item; the evident intent is a type filter, so on that error the
// expression is evaluated again with `as` read as `ofType` (NOTES.md).
function asToOfType(expression) {
  return expression
    .replace(/\(([A-Za-z][A-Za-z0-9_.]*) as ([A-Za-z]+)\)/g, '$1.ofType($2)')
    .replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
}

/** Evaluate `expression` on a resource (or a ResourceNode); [{t, v, node}]. */
export function evalNodes(params, expression, input, resource = input) {
  let nodes;
  try {
    nodes = params.fn(expression)(input, { resource });
  } catch (e) {
    if (!/Expected singleton on left side of 'as'/.test(e.message)) throw e;
    nodes = params.fn(asToOfType(expression))(input, { resource });
  }
  return nodes.map((n) => (n && n.fhirNodeDataType !== undefined
    ? { t: n.fhirNodeDataType, v: n.data, node: n }
    : { t: typeof n, v: n, node: n }));
}

// ------------------------------------------------------------------- strings

export function norm(s) {
  return String(s).normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The string parts a string parameter searches in one value (HumanName and Address: every part). */
export function stringParts({ t, v }) {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (t === 'HumanName') {
    return [v.text, v.family, ...(v.given || []), ...(v.prefix || []), ...(v.suffix || [])].filter((x) => typeof x === 'string');
  }
  if (t === 'Address') {
    return [v.text, ...(v.line || []), v.city, v.district, v.state, v.postalCode, v.country].filter((x) => typeof x === 'string');
  }
  return [];
}

function matchString(vals, q, modifier) {
  for (const val of vals) {
    for (const p of stringParts(val)) {
      if (modifier === 'exact') { if (p === q) return true; }
      else if (modifier === 'contains') { if (norm(p).includes(norm(q))) return true; }
      else if (norm(p).startsWith(norm(q))) return true;
    }
  }
  return false;
}

// -------------------------------------------------------------------- tokens

/** The codings a token parameter matches in one value: [{system, code, display}] (system undefined: none). */
export function tokenCodes({ t, v }) {
  if (v === null || v === undefined) return [];
  if (t === 'CodeableConcept') return (v.coding || []).map((c) => ({ system: c.system, code: c.code, display: c.display }));
  if (t === 'Coding') return [{ system: v.system, code: v.code, display: v.display }];
  if (t === 'Identifier') return [{ system: v.system, code: v.value }];
  if (t === 'ContactPoint') return [{ system: undefined, code: v.value, cp: true }];
  if (typeof v === 'boolean') return [{ system: undefined, code: String(v), implicit: true }];
  if (typeof v === 'string') return [{ system: undefined, code: v, implicit: true }];
  return [];
}

/** The texts :text matches in one value: CodeableConcept.text, Coding.display, Identifier.type.text. */
export function tokenTexts({ t, v }) {
  if (!v || typeof v !== 'object') return [];
  if (t === 'CodeableConcept') return [v.text, ...(v.coding || []).map((c) => c.display)].filter(Boolean);
  if (t === 'Coding') return [v.display].filter(Boolean);
  if (t === 'Identifier') return [v.type && v.type.text].filter(Boolean);
  return [];
}

// A token value: { system, code } with system undefined when no '|' was given,
// '' for '|code' (no system) and code '' for 'system|'.
function tokenHit(c, q) {
  if (q.system === undefined) return c.code === q.code;
  if (q.system === '') return c.system === undefined && c.code === q.code;
  if (q.code === '') return c.system === q.system;
  return c.system === q.system && c.code === q.code;
}

function matchToken(vals, q, modifier) {
  if (modifier === 'text') {
    return vals.some((val) => tokenTexts(val).some((s) => norm(s).startsWith(norm(q))));
  }
  if (modifier === 'of-type') {
    return vals.some(({ t, v }) => t === 'Identifier' && v.value === q.value && v.type &&
      (v.type.coding || []).some((c) => c.system === q.system && c.code === q.code));
  }
  return vals.some((val) => tokenCodes(val).some((c) => tokenHit(c, q)));
}

// --------------------------------------------------------------------- dates

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The implicit range [lo, hi) in ms of a date/dateTime/instant string at its precision (UTC when no zone). */
export function dateRange(s) {
  const m = DATE_RE.exec(String(s));
  if (!m) return null;
  const [, Y, M, D, h, mi, sec, frac, tz] = m;
  let off = 0;
  if (tz && tz !== 'Z') off = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60000;
  const y = Number(Y);
  if (M === undefined) return { lo: Date.UTC(y, 0, 1), hi: Date.UTC(y + 1, 0, 1) };
  if (D === undefined) return { lo: Date.UTC(y, Number(M) - 1, 1), hi: Date.UTC(y, Number(M), 1) };
  if (h === undefined) return { lo: Date.UTC(y, Number(M) - 1, Number(D)), hi: Date.UTC(y, Number(M) - 1, Number(D) + 1) };
  const base = Date.UTC(y, Number(M) - 1, Number(D), Number(h), Number(mi), Number(sec || 0)) - off;
  if (sec === undefined) return { lo: base, hi: base + 60000 };
  if (frac === undefined) return { lo: base, hi: base + 1000 };
  const digits = frac.length;
  const ms = Number(`0.${frac}`) * 1000;
  if (digits >= 3) return { lo: base + Math.floor(ms), hi: base + Math.floor(ms) + 1 }; // ms resolution
  const step = 10 ** (3 - digits);
  return { lo: base + Math.round(ms), hi: base + Math.round(ms) + step };
}

/** The ranges of one value of a date parameter (date, dateTime, instant, Period, Timing). */
export function valueRanges({ t, v }) {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') { const r = dateRange(v); return r ? [r] : []; }
  if (t === 'Period') {
    const s = v.start ? dateRange(v.start) : null;
    const e = v.end ? dateRange(v.end) : null;
    if (!s && !e) return [];
    return [{ lo: s ? s.lo : -Infinity, hi: e ? e.hi : Infinity }];
  }
  if (t === 'Timing') {
    const out = (v.event || []).map(dateRange).filter(Boolean);
    const b = v.repeat && v.repeat.boundsPeriod;
    if (b) out.push(...valueRanges({ t: 'Period', v: b }));
    return out;
  }
  return [];
}

function dateCmp(prefix, s, t, now) {
  const eq = s.lo <= t.lo && t.hi <= s.hi;
  switch (prefix) {
    case 'eq': return eq;
    case 'ne': return !eq;
    case 'gt': return t.hi > s.hi;
    case 'lt': return t.lo < s.lo;
    case 'ge': return t.hi > s.hi || eq;
    case 'le': return t.lo < s.lo || eq;
    case 'sa': return t.lo >= s.hi;
    case 'eb': return t.hi <= s.lo;
    case 'ap': {
      if (eq) return true;
      // the tolerance is the server's choice (the spec recommends 10% of the
      // gap between now and the date): overlapping or within 20% is "maybe"
      const gap = Math.abs(now - s.lo) * 0.2 + 86400000;
      if (t.hi > s.lo - gap && t.lo < s.hi + gap) return 'maybe';
      return false;
    }
    default: throw new Error(`date prefix ${prefix}`);
  }
}

// ------------------------------------------------------ numbers and quantities

/** A number search value: { value, lo, hi } (the implicit range of its significant digits). */
export function numberRange(s) {
  const str = String(s);
  const v = Number(str);
  const m = /^[+-]?(\d*)(?:\.(\d+))?$/.exec(str);
  let half = 0.5;
  if (m && m[2]) half = 0.5 * 10 ** -m[2].length;
  const lo = v - half;
  const hi = v + half;
  // beyond double precision the range collapses onto the value: a point
  return { value: v, lo, hi, point: lo === v || hi === v };
}

// true / false / 'maybe' for one point value v; the exact reading of gt/lt/ge/le
// (the spec's examples: "gt100 ... greater than exactly 100") and the implicit
// range reading (the prefix table) differ only inside the range: maybe there.
function numberCmp(prefix, s, v) {
  const above = s.point ? v > s.value : v >= s.hi;
  const below = s.point ? v < s.value : v < s.lo;
  const inRange = !above && !below;
  switch (prefix) {
    case 'eq': return inRange;
    case 'ne': return !inRange;
    case 'gt': return v > s.value ? (above ? true : 'maybe') : false;
    case 'ge': return v >= s.value ? true : (!below ? 'maybe' : false);
    case 'lt': return v < s.value ? (below ? true : 'maybe') : false;
    case 'le': return v <= s.value ? true : (!above ? 'maybe' : false);
    case 'sa': return above ? true : (v > s.value ? 'maybe' : false);
    case 'eb': return below ? true : (v < s.value ? 'maybe' : false);
    case 'ap': {
      if (inRange) return true;
      const tol = Math.abs(s.value) * 0.2 + (s.hi - s.lo);
      return Math.abs(v - s.value) <= tol ? 'maybe' : false;
    }
    default: throw new Error(`number prefix ${prefix}`);
  }
}

function numberOf({ v }) {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && typeof v.value === 'number') return v.value;
  if (typeof v === 'string' && v !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

// any value true -> true; else any 'maybe' -> 'maybe'; else false
function anyOf(results) {
  let maybe = false;
  for (const r of results) { if (r === true) return true; if (r === 'maybe') maybe = true; }
  return maybe ? 'maybe' : false;
}

// `ne` on a resource with several values: "any value differs" and "no value
// equals" disagree when some are equal and some are not; maybe then.
function combine(prefix, results) {
  if (prefix === 'ne' && results.length > 1 && results.some((r) => r === true) && results.some((r) => r === false)) return 'maybe';
  return anyOf(results);
}

function matchDate(vals, q, now) {
  const s = dateRange(q.value);
  const res = [];
  for (const val of vals) for (const t of valueRanges(val)) res.push(dateCmp(q.prefix, s, t, now));
  return combine(q.prefix, res);
}

function matchNumber(vals, q) {
  const s = numberRange(q.value);
  const res = [];
  for (const val of vals) {
    const v = numberOf(val);
    if (v !== undefined) res.push(numberCmp(q.prefix, s, v));
  }
  return combine(q.prefix, res);
}

const UCUM = 'http://unitsofmeasure.org';
const ucum = fhirpath.ucumUtils;
const converted = new Map();
function ucumConvert(value, from, to) {
  const key = `${value}|${from}|${to}`;
  if (!converted.has(key)) {
    let r;
    try { r = ucum.convertUnitTo(from, value, to); } catch { r = null; }
    converted.set(key, r && r.status === 'succeeded' ? r.toVal : undefined);
  }
  return converted.get(key);
}

function matchQuantity(vals, q) {
  const s = numberRange(q.value);
  const res = [];
  for (const { v } of vals) {
    if (!v || typeof v !== 'object' || typeof v.value !== 'number') continue;
    if (q.code !== undefined && q.code !== '' && v.system === UCUM && v.code && v.code !== q.code &&
        (q.system === UCUM || !q.system)) {
      // the spec lets a server compare UCUM quantities in canonical units
      // ("may choose to perform a search based on canonical units"): a match
      // after conversion is allowed, not required
      const x = ucumConvert(v.value, v.code, q.code);
      if (x !== undefined && numberCmp(q.prefix, s, x) !== false) { res.push('maybe'); continue; }
    }
    if (q.system !== undefined && q.system !== '' && v.system !== q.system) continue;
    if (q.code !== undefined && q.code !== '') {
      if (q.system) { if (v.code !== q.code) continue; }
      else if (v.code !== q.code && v.unit !== q.code) continue;
    }
    res.push(numberCmp(q.prefix, s, v.value));
  }
  return combine(q.prefix, res);
}

// ---------------------------------------------------------------- references

/** The (type, id) a reference value points to, relative to our base; or { url } for anything else. */
export function refTarget({ t, v }, base) {
  const ref = typeof v === 'string' ? v : v && v.reference;
  if (!ref) return null;
  let rel = ref;
  if (base && ref.startsWith(`${base}/`)) rel = ref.slice(base.length + 1);
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(rel);
  if (m) return { type: m[1], id: m[2], url: ref };
  return { url: ref };
}

function matchReference(vals, q, modifier, base) {
  if (modifier === 'identifier') {
    return vals.some(({ v }) => v && v.identifier && tokenHit({ system: v.identifier.system, code: v.identifier.value }, q));
  }
  for (const val of vals) {
    const tg = refTarget(val, base);
    if (!tg) continue;
    const want = modifier && modifier !== 'missing' ? modifier : undefined; // :Type
    if (/^https?:\/\//.test(q)) {
      if (base && q.startsWith(`${base}/`)) {
        const r = refTarget({ v: q.slice(base.length + 1) });
        if (r.type && tg.type === r.type && tg.id === r.id) return true;
      } else if (tg.url === q) return true;
      continue;
    }
    const m = /^([A-Z][A-Za-z]+)\/(.+)$/.exec(q);
    if (m) { if (tg.type === m[1] && tg.id === m[2] && (!want || want === m[1])) return true; continue; }
    if (tg.id === q && (!want || tg.type === want)) return true;
  }
  return false;
}

// ----------------------------------------------------------------------- uri

function matchUri(vals, q, modifier) {
  return vals.some(({ v }) => {
    if (typeof v !== 'string') return false;
    if (modifier === 'below') return v.startsWith(q);
    if (modifier === 'above') return q.startsWith(v);
    return v === q;
  });
}

// Whether a value carries anything the parameter type can search on (an
// Identifier with only `use` is present but has no token): `:missing` on such
// an element is left open by the spec.
function searchable(type, val, base) {
  switch (type) {
    case 'string': return stringParts(val).length > 0;
    case 'token': return tokenCodes(val).some((c) => c.code !== undefined || c.system !== undefined) || tokenTexts(val).length > 0;
    case 'date': return valueRanges(val).length > 0;
    case 'number': return numberOf(val) !== undefined;
    case 'quantity': return !!val.v && typeof val.v.value === 'number';
    case 'reference': return !!refTarget(val, base) || !!(val.v && val.v.identifier);
    default: return true;
  }
}

// ----------------------------------------------------------------- the oracle

export class Oracle {
  /** resources: { Type: [resource...] }; base: the server's base URL (for absolute references). */
  constructor(params, resources, base, now = Date.now()) {
    this.params = params;
    this.resources = resources;
    this.base = base;
    this.now = now;
    this.byRef = new Map();
    for (const [type, list] of Object.entries(resources)) for (const r of list) this.byRef.set(`${type}/${r.id}`, r);
    this.cache = new Map();
    this.byCanonical = new Map(); // url -> resources (canonical references resolve by url)
    for (const list of Object.values(resources)) {
      for (const r of list) if (typeof r.url === 'string') this.byCanonical.set(r.url, [...(this.byCanonical.get(r.url) || []), r]);
    }
  }

  /** The stored resources a reference value points to. */
  resolve(val) {
    const out = [];
    const t = refTarget(val, this.base);
    if (t && t.type && this.byRef.has(`${t.type}/${t.id}`)) out.push(this.byRef.get(`${t.type}/${t.id}`));
    if (typeof val.v === 'string') out.push(...(this.byCanonical.get(val.v.split('|')[0]) || []));
    return [...new Set(out)];
  }

  values(r, sp) {
    const key = `${r.resourceType}/${r.id}|${sp.url}`;
    let v = this.cache.get(key);
    if (!v) {
      v = evalNodes(this.params, sp.expression, r).filter((x) => x.v !== null && x.v !== undefined);
      this.cache.set(key, v);
    }
    return v;
  }

  /** The match of one value of one (non-chained) parameter on resource r: true, false or 'maybe'. */
  matchValue(r, sp, modifier, q, valsOverride) {
    const vals = valsOverride || this.values(r, sp);
    if (modifier === 'missing') {
      if (vals.length && !vals.some((v) => searchable(sp.type, v, this.base))) return 'maybe';
      return (vals.length === 0) === (q === 'true');
    }
    // phonetic: the algorithm is the server's choice (spec: "phonetic match")
    if (sp.code === 'phonetic') return matchString(vals, q, modifier) || (vals.length ? 'maybe' : false);
    switch (sp.type) {
      case 'string': return matchString(vals, q, modifier);
      case 'token':
        if (modifier === 'not') return !matchToken(vals, q, undefined);
        return matchToken(vals, q, modifier);
      case 'date': return matchDate(vals, q, this.now);
      case 'number': return matchNumber(vals, q);
      case 'quantity': return matchQuantity(vals, q);
      case 'reference': return matchReference(vals, q, modifier, this.base);
      case 'uri': return matchUri(vals, q, modifier);
      case 'composite': return this.matchComposite(r, sp, q);
      default: throw new Error(`parameter type ${sp.type}`);
    }
  }

  // q: [componentValue, ...], matched on the components of one base node together
  matchComposite(r, sp, q) {
    const bases = evalNodes(this.params, sp.expression, r);
    const res = [];
    for (const b of bases) {
      const parts = sp.component.map((c, i) => {
        const csp = this.params.byUrl.get(c.definition);
        const vals = evalNodes(this.params, c.expression, b.node, r).filter((x) => x.v !== null && x.v !== undefined);
        return this.matchValue(r, csp, undefined, q[i], vals);
      });
      if (parts.every((p) => p === true)) res.push(true);
      else if (parts.every((p) => p === true || p === 'maybe')) res.push('maybe');
      else res.push(false);
    }
    return anyOf(res);
  }

  /** One parameter (OR over its values) on resource r. */
  matchParam(r, p) {
    if (p.name === '_has') return this.matchHas(r, p);
    const sp = this.params.get(r.resourceType, p.name);
    if (!sp) throw new Error(`no parameter ${r.resourceType}.${p.name}`);
    if (p.chain) {
      // chained: a reference whose target (of p.modifier's type, when given) matches the chained parameter
      const targets = this.values(r, sp).flatMap((v) => this.resolve(v))
        .filter((t) => !p.modifier || t.resourceType === p.modifier);
      return anyOf(targets.map((t) => this.matchParam(t, p.chain)));
    }
    return anyOf(p.values.map((q) => this.matchValue(r, sp, p.modifier, q)));
  }

  // _has:Type:param:inner — some resource of Type whose `param` references r matches inner
  matchHas(r, p) {
    const sp = this.params.get(p.hasType, p.hasParam);
    const res = [];
    for (const o of this.resources[p.hasType] || []) {
      const points = this.values(o, sp).some((v) => {
        const t = refTarget(v, this.base);
        return t && t.type === r.resourceType && t.id === r.id;
      });
      if (points) res.push(this.matchParam(o, p.chain));
    }
    return anyOf(res);
  }

  evaluate(query) {
    const match = new Set();
    const maybe = new Set();
    for (const r of this.resources[query.type] || []) {
      let all = true;
      let unsure = false;
      for (const p of query.params) {
        const m = this.matchParam(r, p);
        if (m === false) { all = false; break; }
        if (m === 'maybe') unsure = true;
      }
      if (!all) continue;
      (unsure ? maybe : match).add(r.id);
    }
    return { match, maybe };
  }
}
