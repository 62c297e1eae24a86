// FHIR-level assertions and helpers shared by the API tests: OperationOutcome
// checks, ETag parsing, history paging, and a JSON parser that keeps number
// literals as written (so "1.50" and "1.5" compare different, as FHIR decimals do).
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';

export const FHIR_JSON = 'application/fhir+json';
export const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
// instant: YYYY-MM-DDThh:mm:ss(.sss)?(Z|(+|-)hh:mm) (datatypes.html#instant)
export const INSTANT_RE = /^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;

export function client(srv) {
  return new Client(srv.token ? { baseUrl: srv.base, bearerToken: srv.token } : { baseUrl: srv.base });
}

/** The raw fetch Response behind a fhir-kit-client result. */
export function responseOf(result) {
  return Client.httpFor(result).response;
}

/** Status of a rejected fhir-kit-client promise (or rethrow non-HTTP errors). */
export async function statusOf(promise) {
  try {
    await promise;
  } catch (e) {
    if (e && e.response && typeof e.response.status === 'number') return e.response.status;
    throw e;
  }
  return 200;
}

/** Await a fhir-kit-client call expected to fail; returns { status, data }. */
export async function rejects(promise) {
  try {
    const r = await promise;
    const res = responseOf(r);
    assert.fail(`expected an HTTP error, got ${res ? res.status : 'success'}: ${JSON.stringify(r).slice(0, 300)}`);
  } catch (e) {
    if (e && e.response && typeof e.response.status === 'number') return e.response;
    throw e;
  }
  return undefined;
}

/** W/"3" -> "3"; asserts the weak-ETag form required by http.html#versioning. */
export function etagVersion(etag) {
  assert.ok(etag, 'missing ETag header');
  const m = /^W\/"([^"]+)"$/.exec(etag);
  assert.ok(m, `ETag ${JSON.stringify(etag)} is not of the form W/"<versionId>"`);
  return m[1];
}

export function isFhirJsonType(ct) {
  return /^application\/(fhir\+)?json\s*(;|$)/i.test(ct || '');
}

/**
 * A response (from lib/server.mjs request()) that must be an OperationOutcome
 * error with one of the given statuses.
 */
export function assertOutcome(res, statuses, what = '') {
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  const label = what ? `${what}: ` : '';
  assert.ok(allowed.includes(res.status),
    `${label}expected HTTP ${allowed.join(' or ')}, got ${res.status}: ${String(res.text).slice(0, 400)}`);
  assert.ok(isFhirJsonType(res.headers['content-type']),
    `${label}error body must be FHIR JSON, got Content-Type ${res.headers['content-type']}`);
  assertOutcomeBody(res.json, label);
}

export function assertOutcomeBody(body, label = '') {
  assert.ok(body && typeof body === 'object', `${label}error response has no JSON body`);
  assert.equal(body.resourceType, 'OperationOutcome', `${label}error body is not an OperationOutcome: ${JSON.stringify(body).slice(0, 300)}`);
  assert.ok(Array.isArray(body.issue) && body.issue.length > 0, `${label}OperationOutcome.issue must have at least one issue`);
  for (const issue of body.issue) {
    assert.ok(['fatal', 'error', 'warning', 'information'].includes(issue.severity), `${label}bad issue.severity ${issue.severity}`);
    assert.equal(typeof issue.code, 'string', `${label}issue.code is required`);
  }
  assert.ok(body.issue.some((i) => i.severity === 'error' || i.severity === 'fatal'),
    `${label}an error OperationOutcome needs an issue of severity error or fatal`);
}

/** Never a 5xx for anything a client sends. */
export function assertNot5xx(res, what = '') {
  assert.ok(res.status < 500, `${what} gave a server error ${res.status}: ${String(res.text).slice(0, 300)}`);
}

/**
 * Follow a history (or search) Bundle through its "next" links with raw
 * requests. Returns { pages: [bundle...], entries: [entry...] }. Checks each
 * page is a Bundle of the given type with at most `count` entries.
 */
export async function allPages(srv, firstPath, { type = 'history', count, maxPages = 1000 } = {}) {
  const pages = [];
  const entries = [];
  let url = new URL(firstPath, srv.origin);
  const seen = new Set();
  for (let i = 0; ; i++) {
    assert.ok(i < maxPages, `more than ${maxPages} pages following next links from ${firstPath}`);
    assert.ok(!seen.has(url.href), `next link loops back to ${url.href}`);
    seen.add(url.href);
    assert.equal(url.origin, srv.origin, `paging link points elsewhere: ${url.href}`);
    const res = await srv.request('GET', url.pathname + url.search, { headers: { accept: FHIR_JSON } });
    assert.equal(res.status, 200, `GET ${url.pathname}${url.search}: ${res.status} ${res.text.slice(0, 300)}`);
    const b = res.json;
    assert.equal(b.resourceType, 'Bundle');
    assert.equal(b.type, type, `Bundle.type must be ${type}`);
    const pageEntries = b.entry || [];
    if (count !== undefined) {
      assert.ok(pageEntries.length <= count, `page has ${pageEntries.length} entries, more than _count=${count}`);
    }
    pages.push(b);
    entries.push(...pageEntries);
    const next = (b.link || []).find((l) => l.relation === 'next');
    if (!next) break;
    assert.ok(pageEntries.length > 0, 'a page with a next link but no entries');
    url = new URL(next.url, `${srv.base}/`);
  }
  return { pages, entries };
}

/** Copy of a resource without meta.versionId / meta.lastUpdated (and an empty meta). */
export function withoutServerMeta(resource) {
  const r = { ...resource };
  if (r.meta) {
    r.meta = { ...r.meta };
    delete r.meta.versionId;
    delete r.meta.lastUpdated;
    if (Object.keys(r.meta).length === 0) delete r.meta;
  }
  return r;
}

/** A JSON number kept as its literal text (so decimal precision is compared). */
export class JsonNumber {
  constructor(text) { this.text = text; }
}

/**
 * JSON.parse, except that every number becomes a JsonNumber holding its exact
 * literal: deep-equal then compares 1.50 != 1.5 and 0.1 != 0.10000000000000001.
 */
export function parseExact(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (msg) => { throw new SyntaxError(`${msg} at offset ${i}`); };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected key');
        const k = str();
        ws();
        if (text[i++] !== ':') fail('expected :');
        obj[k] = value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return new JsonNumber(m[0]);
  }
  function str() {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      i++;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

/**
 * Raw request with a JSON body (objects are stringified; strings sent as is).
 * Content-Type defaults to application/fhir+json, Accept to application/fhir+json.
 */
export function send(srv, method, urlPath, body, headers = {}, { timeout } = {}) {
  const h = { accept: FHIR_JSON, ...headers };
  const lc = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  if (body !== undefined && !('content-type' in lc)) lc['content-type'] = FHIR_JSON;
  for (const k of Object.keys(lc)) if (lc[k] === null) delete lc[k];
  const data = body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return srv.request(method, urlPath, { headers: lc, body: data, timeout });
}

const HTTP_DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/** Last-Modified must be an IMF-fixdate equal to meta.lastUpdated (to the second). */
export function assertLastModified(value, lastUpdated) {
  assert.ok(value, 'missing Last-Modified header');
  assert.match(value, HTTP_DATE_RE, `Last-Modified ${JSON.stringify(value)} is not an HTTP date (IMF-fixdate)`);
  if (lastUpdated) {
    const lu = Math.floor(Date.parse(lastUpdated) / 1000) * 1000;
    assert.equal(Date.parse(value), lu, `Last-Modified ${value} differs from meta.lastUpdated ${lastUpdated}`);
  }
}

/** meta.versionId / meta.lastUpdated set by the server, lastUpdated recent. */
export function assertServerMeta(resource, versionId) {
  assert.ok(resource.meta, 'resource has no meta');
  assert.equal(resource.meta.versionId, versionId, `meta.versionId should be ${versionId}`);
  assert.match(resource.meta.lastUpdated || '', INSTANT_RE, `meta.lastUpdated ${resource.meta.lastUpdated} is not a FHIR instant`);
  const skew = Math.abs(Date.parse(resource.meta.lastUpdated) - Date.now());
  assert.ok(skew < 10 * 60 * 1000, `meta.lastUpdated ${resource.meta.lastUpdated} is not the current time`);
}

let uniq = 0;
/** A fresh, valid, client-chosen id. */
export function newId(prefix = 't') {
  uniq++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${uniq}`;
}
