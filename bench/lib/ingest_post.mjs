// bench/lib/ingest_post.mjs - POST transaction Bundles to a FHIR base with N
// requests in flight (node's fetch), for bench/ingest.sh.
//
//   node ingest_post.mjs --base URL[,URL...] --conc 4 [--warm K] [--map FILE] [--timeout S] FILE.json.gz...
//
// Every file is read and gunzipped before the clock starts. The first K files
// are posted first, one at a time, as a warm-up (not counted); the rest are
// posted by --conc workers, each taking the next file, and the clock runs
// from the first measured request to the last response. A Bundle counts when
// its answer is 200 with a transaction-response of one 2xx entry per request
// entry; its entries are the resources it counts for.
//
// --map FILE: one line per measured Bundle that loaded, in completion order:
// "file<TAB>Type/id Type/id ..." from the entries' response locations (for
// the limit replay). Prints one line: BENCH key=value ... ; bad answers are
// printed as "BENCH_BAD file: status body..." (first three).
//
// Several bases (servers on one database): worker i posts to base i mod n,
// warm-up Bundle k to base k mod n, so each server has conc/n requests in
// flight and the Bundles are shared out as the workers take them; the BENCH
// line then also has resources_by_base=r1,r2,...
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const opt = { base: '', conc: 4, warm: 0, map: '', timeout: 300 };
const files = [];
for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--base') opt.base = args[++i];
    else if (a === '--conc') opt.conc = +args[++i];
    else if (a === '--warm') opt.warm = +args[++i];
    else if (a === '--map') opt.map = args[++i];
    else if (a === '--timeout') opt.timeout = +args[++i];
    else files.push(a);
}
if (!opt.base || files.length <= opt.warm) {
    console.error('usage: ingest_post.mjs --base URL [--conc N] [--warm K] [--map FILE] FILE.json.gz...');
    process.exit(2);
}

// Read everything up front: bodies as Buffers, entry counts from the JSON.
const bundles = files.map((f) => {
    const body = gunzipSync(readFileSync(f));
    const n = JSON.parse(body.toString('utf8')).entry?.length ?? 0;
    return { file: basename(f), body, n };
});
const bases = opt.base.split(',');
const byBase = bases.map(() => 0);
const warm = bundles.slice(0, opt.warm);
const work = bundles.slice(opt.warm);

const bad = [];
const mapLines = [];
let ok = 0, failed = 0, resources = 0, bytes = 0, maxMs = 0;
const lat = [];

async function post(b, record, base) {
    const t0 = performance.now();
    let status = 0, text = '';
    try {
        const res = await fetch(bases[base], {
            method: 'POST',
            headers: {
                'content-type': 'application/fhir+json',
                accept: 'application/fhir+json',
                prefer: 'return=minimal',
            },
            body: b.body,
            signal: AbortSignal.timeout(opt.timeout * 1000),
        });
        status = res.status;
        text = await res.text();
    } catch (e) {
        text = String(e);
    }
    const ms = performance.now() - t0;
    if (!record) return;
    lat.push(ms);
    let ids = null;
    if (status === 200) {
        try {
            const r = JSON.parse(text);
            const es = r.entry ?? [];
            if (r.type === 'transaction-response' && es.length === b.n &&
                es.every((e) => /^2\d\d/.test(String(e.response?.status ?? '')))) {
                ids = es.map((e) => {
                    const m = /([A-Za-z]+)\/([A-Za-z0-9.-]{1,64})\/_history\/[^/]+$/.exec(e.response.location ?? '');
                    return m ? `${m[1]}/${m[2]}` : '?';
                });
            }
        } catch { /* counted as bad below */ }
    }
    if (ids) {
        ok++;
        resources += b.n;
        byBase[base] += b.n;
        bytes += b.body.length;
        if (opt.map) mapLines.push(`${b.file}\t${ids.join(' ')}`);
    } else {
        failed++;
        if (bad.length < 3) bad.push(`${b.file}: ${status} ${text.slice(0, 300).replace(/\s+/g, ' ')}`);
    }
}

for (const [k, b] of warm.entries()) await post(b, false, k % bases.length);

let next = 0;
const t0 = performance.now();
async function worker(base) {
    while (next < work.length) await post(work[next++], true, base);
}
await Promise.all(Array.from({ length: Math.min(opt.conc, work.length) }, (_, i) => worker(i % bases.length)));
const secs = (performance.now() - t0) / 1000;

if (opt.map) writeFileSync(opt.map, mapLines.join('\n') + (mapLines.length ? '\n' : ''));
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
for (const l of bad) console.log(`BENCH_BAD ${l}`);
console.log(`BENCH bundles=${work.length} ok=${ok} failed=${failed} resources=${resources}` +
    ` mbytes=${(bytes / 1e6).toFixed(1)} secs=${secs.toFixed(3)} rps=${Math.round(resources / secs)}` +
    ` p50_ms=${pct(0.5).toFixed(0)} max_ms=${(lat[lat.length - 1] ?? 0).toFixed(0)}` +
    (bases.length > 1 ? ` resources_by_base=${byBase.join(',')}` : ''));
