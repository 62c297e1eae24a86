// Helpers of the `bron import` tests (import.test.mjs, synthea-all.test.mjs):
// run the command and read its summary, find the Synthea sample, and check
// that every reference in every stored resource resolves. Not a test file
// itself (node --test picks up *.test.mjs only).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import assert from 'node:assert/strict';
import { BRON_BIN, BRON_SHARED, REPO_ROOT, API_DIR, pool, storeArgs, testToken } from './lib/server.mjs';
import { FHIR_JSON } from './lib/fhir.mjs';

export const SYNTHEA_DIR = path.join(BRON_SHARED, 'data/synthea');

/** The first n Synthea bundles (all when n is undefined), or null if the sample is absent. */
export function syntheaFiles(n) {
  if (!fs.existsSync(SYNTHEA_DIR)) return null;
  const all = fs.readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json.gz')).sort();
  if (!all.length) return null;
  return all.slice(0, n).map((f) => path.join(SYNTHEA_DIR, f));
}

/** Entries in the (gzipped) Bundle files. */
export function countEntries(files) {
  let n = 0;
  for (const f of files) {
    const b = JSON.parse(zlib.gunzipSync(fs.readFileSync(f)).toString('utf8'));
    n += (b.entry || []).length;
  }
  return n;
}

/** Parse the summary `bron import` prints on stdout. */
export function parseSummary(stdout) {
  const num = (re) => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : undefined;
  };
  return {
    loaded: num(/^loaded:\s+(\d+) resources/m),
    rejected: num(/^rejected:\s+(\d+) resources/m),
    rejections: num(/^rejected:\s+\d+ resources, (\d+) rejection/m),
    files: num(/^files:\s+(\d+)/m),
    time: num(/^time:\s+([0-9.]+) s/m),
    rate: num(/^rate:\s+(\d+) resources\/s/m),
    reasons: [...stdout.matchAll(/^rejected: (?!\d+ resources)(.*)$/gm)].map((m) => m[1]),
  };
}

/**
 * The import arguments with `--data DIR` of a test data dir (an existing dir
 * under tests/api/.tmp) replaced by storeArgs(DIR): `--store URL` in
 * PostgreSQL mode, unchanged on SQLite. Other --data values (usage-error
 * tests) are passed as they are.
 */
function withStore(args) {
  const out = [];
  const tmp = path.join(API_DIR, '.tmp') + path.sep;
  for (let i = 0; i < args.length; i++) {
    const dir = args[i + 1];
    if (args[i] === '--data' && typeof dir === 'string' && path.resolve(dir).startsWith(tmp) && fs.existsSync(dir)) {
      out.push(...storeArgs(dir));
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/**
 * Run `bron import ARGS` to completion: resolves to { code, signal, stdout,
 * stderr, summary }; the returned promise's `child` is the process.
 * `--data DIR` of a test data dir means that dir's store (see withStore).
 */
export function runImport(args, { timeoutMs = 120000, env } = {}) {
  let child;
  const argv = ['import', ...withStore(args)];
  const done = new Promise((resolve, reject) => {
    const p = spawn(BRON_BIN, argv, {
      // through a running server (--url): with the harness's bearer token
      stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: { BRON_TOKEN: testToken(), ...process.env, ...env },
    });
    child = p;
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, summary: parseSummary(stdout) });
    });
  });
  done.child = child;
  return done;
}

/** Every `reference` string inside a resource. */
export function referencesOf(value, out = []) {
  if (Array.isArray(value)) {
    for (const v of value) referencesOf(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else if (typeof v === 'object') referencesOf(v, out);
    }
  }
  return out;
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]+)?$/;

/**
 * Read every stored resource through the system history (page by page, not
 * kept in memory) and check every reference in it: a relative or
 * this-server `Type/id` must name a stored resource and GET to 200; a
 * leftover `urn:uuid:`/`urn:oid:` or conditional (`Type?...`) reference is a
 * failure; contained (#) and other servers' URLs are not checked.
 * Returns { resources, byType, references, targets }.
 */
export async function checkReferences(srv, { count = 1000, getConcurrency = 8 } = {}) {
  const stored = new Set();
  const byType = {};
  const targets = new Map(); // "Type/id" -> first referrer
  const bad = [];
  let references = 0;
  let url = `/fhir/_history?_count=${count}`;
  for (let page = 0; url; page++) {
    assert.ok(page < 100000, 'history paging does not end');
    const res = await srv.request('GET', url, { headers: { accept: FHIR_JSON } });
    assert.equal(res.status, 200, `GET ${url}: ${res.status} ${res.text.slice(0, 300)}`);
    for (const e of res.json.entry || []) {
      const r = e.resource;
      if (!r) continue; // a deletion
      const key = `${r.resourceType}/${r.id}`;
      if (stored.has(key)) continue; // an older version
      stored.add(key);
      byType[r.resourceType] = (byType[r.resourceType] || 0) + 1;
      for (let ref of referencesOf(r)) {
        references++;
        if (ref.startsWith(`${srv.base}/`)) ref = ref.slice(srv.base.length + 1);
        const m = LOCAL_REF.exec(ref);
        if (m) {
          const t = `${m[1]}/${m[2]}`;
          if (!targets.has(t)) targets.set(t, key);
        } else if (/^urn:(uuid|oid):/.test(ref) || /^[A-Z][A-Za-z]+\?/.test(ref)) {
          if (bad.length < 20) bad.push(`${key} -> ${ref} (not rewritten)`);
        }
      }
    }
    const next = (res.json.link || []).find((l) => l.relation === 'next');
    url = next ? new URL(next.url).pathname + new URL(next.url).search : null;
  }
  for (const [t, from] of targets) {
    if (!stored.has(t) && bad.length < 20) bad.push(`${from} -> ${t} (not in the history)`);
  }
  await pool([...targets.keys()], getConcurrency, async (t) => {
    const res = await srv.request('GET', `/fhir/${t}`, { headers: { accept: FHIR_JSON } });
    if (res.status !== 200 && bad.length < 20) bad.push(`${targets.get(t)} -> ${t}: GET ${res.status}`);
  });
  assert.deepEqual(bad, [], `unresolved references:\n${bad.join('\n')}`);
  return { resources: stored.size, byType, references, targets: targets.size };
}
