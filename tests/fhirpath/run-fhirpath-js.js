// Runs the official FHIRPath R4 suite cases (as dumped by Bron's runner:
// fhirpath_suite --json) through fhirpath.js, the reference implementation,
// and prints "N passed, N failed, N skipped". The same skip list applies.
// Values are compared by their string form (types are not checked, which
// makes this slightly more lenient than Bron's runner).
//   node run-fhirpath-js.js cases.json INPUT_DIR [-v]
'use strict';
const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

const [casesFile, inputDir] = process.argv.slice(2);
const verbose = process.argv.includes('-v');
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const inputs = new Map();

function input(name) {
  if (!name) return {};
  if (!inputs.has(name)) {
    const file = path.join(inputDir, name.replace(/\.(xml|json)$/, '') + '.json');
    inputs.set(name, JSON.parse(fs.readFileSync(file, 'utf8')));
  }
  return inputs.get(name);
}

// The variables FHIR defines for FHIRPath (fhirpath.js leaves them to the
// caller): %sct, %loinc, %`vs-name`, %`ext-name`.
function fhirVariables(expr) {
  const vars = { sct: 'http://snomed.info/sct', loinc: 'http://loinc.org' };
  for (const m of expr.matchAll(/%[`']?((vs|ext)-[A-Za-z0-9.\-]+)/g)) {
    vars[m[1]] = m[2] === 'vs' ? 'http://hl7.org/fhir/ValueSet/' + m[1].slice(3)
      : 'http://hl7.org/fhir/StructureDefinition/' + m[1].slice(4);
  }
  return vars;
}

function render(v) {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') {
    if (typeof v.toString === 'function' && v.toString !== Object.prototype.toString) return v.toString();
    return JSON.stringify(v);
  }
  return String(v);
}

function same(expected, got) {
  let e = expected.value;
  const g = render(got);
  if (g === e) return true;
  if (e.startsWith('@T')) e = e.slice(2);
  else if (e.startsWith('@')) e = e.slice(1);
  if (g === e || g === 'T' + e) return true;
  if (expected.value.startsWith('@') && !expected.value.startsWith('@T')) {
    // the same instant written in another zone (fhirpath.js prints UTC)
    const em = Date.parse(e), gm = Date.parse(g);
    if (!isNaN(em) && em === gm && e.includes('T')) return true;
  }
  const en = Number(e), gn = Number(g);
  return e !== '' && !isNaN(en) && !isNaN(gn) && Math.abs(en - gn) < 1e-9;
}

let passed = 0, failed = 0, skipped = 0;
const log = console.log;
console.log = () => {}; // trace() output
console.warn = () => {};
for (const t of cases) {
  if (t.skip) { skipped++; continue; }
  let ok = false, result, error;
  try {
    result = fhirpath.evaluate(input(t.input), t.expression, fhirVariables(t.expression), r4);
  } catch (e) {
    error = e;
  }
  if (t.invalid) ok = !!error;
  else if (!error) {
    if (t.predicate === 'true') {
      ok = t.outputs.length === 1 && t.outputs[0].value === String(result.length > 0);
    } else if (result.length === t.outputs.length) {
      ok = t.unordered
        ? t.outputs.every((o) => result.some((r) => same(o, r)))
        : t.outputs.every((o, i) => same(o, result[i]));
    }
  }
  if (ok) passed++;
  else {
    failed++;
    if (verbose) console.error(`FAIL ${t.name}: ${t.expression} -> ${error ? 'error: ' + error.message : JSON.stringify(result)}`);
  }
}
log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
