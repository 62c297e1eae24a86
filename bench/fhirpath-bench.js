// The fhirpath.js half of bench/fhirpath.sh: the same work as Bron's
// tests/tools/fhirpath_bench.c - every R4 search-parameter expression that
// applies to each Bundle entry's resource type, compiled once, evaluated on
// that resource - timed without JSON parsing, on one thread.
//   node bench/fhirpath-bench.js [--rounds N] search-parameters.json bundle.json...
'use strict';
const fs = require('fs');
const path = require('path');
const mods = path.join(__dirname, '..', 'tests', 'fhirpath', 'node_modules');
const fhirpath = require(path.join(mods, 'fhirpath'));
const r4 = require(path.join(mods, 'fhirpath', 'fhir-context', 'r4'));

let args = process.argv.slice(2), rounds = 1;
if (args[0] === '--rounds') { rounds = Number(args[1]); args = args.slice(2); }
const [spFile, ...bundleFiles] = args;
const byType = new Map();
const inherited = ['Resource', 'DomainResource'];
for (const e of JSON.parse(fs.readFileSync(spFile, 'utf8')).entry) {
  const sp = e.resource;
  if (!sp.expression) continue;
  let fn;
  try { fn = fhirpath.compile(sp.expression, r4); } catch (err) { continue; }
  for (const base of sp.base || []) {
    if (!byType.has(base)) byType.set(base, []);
    byType.get(base).push(fn);
  }
}
const resources = [];
for (const f of bundleFiles) {
  for (const e of JSON.parse(fs.readFileSync(f, 'utf8')).entry || []) if (e.resource) resources.push(e.resource);
}
console.warn = () => {};
let evals = 0, items = 0, errors = 0;
const t0 = process.hrtime.bigint();
for (let round = 0; round < rounds; round++) for (const r of resources) {
  const fns = (byType.get(r.resourceType) || []).concat(...inherited.map((t) => byType.get(t) || []));
  for (const fn of fns) {
    try { items += fn(r).length; } catch (err) { errors++; }
    evals++;
  }
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`fhirpath.js: ${resources.length} resources x ${rounds} rounds, ${evals} evaluations, ${items} items, ${errors} errors, ${secs.toFixed(3)} s, ${Math.round(resources.length * rounds / secs)} resources/s`);
