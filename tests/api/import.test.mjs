// `bron import` (issue 5, item 4): Bundles and NDJSON, plain or gzipped,
// loaded straight into a store (--data) or through a running server (--url);
// a rejected resource or Bundle never stops the rest unless --strict; a bad
// NDJSON line is rejected alone, with its line number; the summary counts
// what loaded and lists why the rest did not; afterwards every reference in
// every stored resource resolves.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer, tempDir, freePort, assertCleanStderr, sleep } from './lib/server.mjs';
import { send } from './lib/fhir.mjs';
import { SYNTHEA_DIR, syntheaFiles, countEntries, runImport, checkReferences } from './import-check.mjs';

const dirs = [];
function scratch(prefix = 'import-') {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function write(dir, name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, name.endsWith('.gz') ? zlib.gzipSync(text) : text);
  return p;
}

const ndjson = (rows) => `${rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`;

/** Assert a clean run: exit code, no sanitizer report, and the counts. */
function assertRun(r, { code, loaded, rejected }) {
  assertCleanStderr(r.stderr);
  assert.equal(r.signal, null, `killed by ${r.signal}\n${r.stderr}`);
  assert.equal(r.code, code, `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  if (loaded !== undefined) assert.equal(r.summary.loaded, loaded, r.stdout);
  if (rejected !== undefined) assert.equal(r.summary.rejected, rejected, r.stdout);
}

async function status(srv, p) {
  return (await send(srv, 'GET', p)).status;
}

describe('bron import command line', () => {
  it('--help describes the flags and exits 0', async () => {
    const r = await runImport(['--help']);
    assert.equal(r.code, 0);
    for (const f of ['--url', '--data', '--sync', '--strict', '--batch', '--concurrency', '--retries']) assert.match(r.stdout, new RegExp(f));
  });

  it('usage errors exit 2 with a message', async () => {
    for (const args of [[], ['--batch', '0', 'x.json'], ['--bogus', 'x.json'], ['--url', 'http://a', '--data', 'b', 'x.json'], ['--concurrency'], ['--retries', '-1', 'x.json'], ['--url', 'http://a', '--sync', '0', 'x.json'], ['--sync', '2', 'x.json']]) {
      const r = await runImport(args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, /bron import:/);
    }
  });
});

describe('bron import of Synthea bundles', () => {
  const files = syntheaFiles(3);
  const skip = files ? false : `no Synthea sample in ${SYNTHEA_DIR}`;
  let expected = 0;
  before(() => { if (files) expected = countEntries(files); });

  it('--data loads them into a store that bron serve then serves, references intact', { skip }, async () => {
    const data = scratch();
    const r = await runImport(['--data', data, '--sync', '0', ...files]);
    assertRun(r, { code: 0, loaded: expected, rejected: 0 });
    assert.equal(r.summary.files, files.length);
    assert.ok(r.summary.rate > 0, r.stdout);
    const srv = await startServer({ dataDir: data });
    try {
      const c = await checkReferences(srv);
      assert.equal(c.resources, expected);
      assert.ok(c.references > expected, `only ${c.references} references checked`);
    } finally {
      await srv.stop();
    }
  });

  it('--url loads them through a running server, references intact', { skip }, async () => {
    const srv = await startServer();
    try {
      const r = await runImport(['--url', `${srv.base}/`, '--concurrency', '2', ...files]);
      assertRun(r, { code: 0, loaded: expected, rejected: 0 });
      const c = await checkReferences(srv);
      assert.equal(c.resources, expected);
    } finally {
      await srv.stop();
    }
  });
});

describe('bron import of NDJSON and other Bundles', () => {
  let srv;
  let dir;
  before(async () => {
    srv = await startServer();
    dir = scratch();
  });
  after(async () => { await srv.stop(); });

  it('a bad NDJSON line is rejected alone, with its line number; the rest loads', async () => {
    const f = write(dir, 'pats.ndjson', ndjson([
      { resourceType: 'Patient', id: 'nd1', active: true },
      { resourceType: 'Patient', id: 'nd2', birthDate: '1970-01-01' },
      '{"resourceType":"Patient","id":"nd3",', // invalid JSON
      { resourceType: 'Patient', id: 'nd4', birthDate: 'not-a-date' }, // the server refuses it
      '',
      { resourceType: 'Observation', id: 'nd6', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nd1' } },
      { resourceType: 'Patient', name: [{ family: 'NoId' }] }, // no id: POST
    ]));
    const r = await runImport(['--url', srv.base, f]);
    assertRun(r, { code: 1, loaded: 4, rejected: 2 });
    assert.equal(r.summary.rejections, 2, r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.includes('pats.ndjson:3:') && /JSON/.test(s)), r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.includes('pats.ndjson:4:') && /not-a-date/.test(s)), r.stdout);
    for (const p of ['Patient/nd1', 'Patient/nd2', 'Observation/nd6']) assert.equal(await status(srv, `/fhir/${p}`), 200, p);
    for (const p of ['Patient/nd3', 'Patient/nd4']) assert.equal(await status(srv, `/fhir/${p}`), 404, p);
  });

  it('gzipped NDJSON in transactions of --batch resources; only the bad line of a batch is lost', async () => {
    const rows = [];
    for (let i = 1; i <= 25; i++) rows.push({ resourceType: 'Patient', id: `gz${i}`, gender: i === 13 ? 'bogus' : 'female' });
    const f = write(dir, 'many.ndjson.gz', ndjson(rows));
    const r = await runImport(['--url', srv.base, '--batch', '4', '--concurrency', '3', f]);
    assertRun(r, { code: 1, loaded: 24, rejected: 1 });
    assert.match(r.summary.reasons[0], /many\.ndjson\.gz:13:/);
    assert.equal(await status(srv, '/fhir/Patient/gz12'), 200);
    assert.equal(await status(srv, '/fhir/Patient/gz13'), 404);
    assert.equal(await status(srv, '/fhir/Patient/gz25'), 200);
  });

  it('an NDJSON line that is a transaction or batch Bundle with an id is stored as a Bundle; one without an id (a deletion) is sent as it is', async () => {
    const inner = { resourceType: 'Patient', id: 'in-bundle', active: true };
    const f = write(dir, 'Bundle-1.ndjson', ndjson([
      { resourceType: 'Bundle', id: 'stored-tx', type: 'transaction', entry: [{ resource: inner, request: { method: 'PUT', url: 'Patient/in-bundle' } }] },
      { resourceType: 'Bundle', id: 'stored-batch', type: 'batch', entry: [{ request: { method: 'DELETE', url: 'Patient/nd-doomed' } }] },
    ]));
    const g = write(dir, 'Patient-1.ndjson', ndjson([{ resourceType: 'Patient', id: 'nd-doomed' }, { resourceType: 'Patient', id: 'nd-deleted' }]));
    const d = write(dir, 'deleted.ndjson', ndjson([{ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Patient/nd-deleted' } }] }]));
    const r = await runImport(['--url', srv.base, '--concurrency', '1', g, f, d]); // in order: the deletion after the create
    assertRun(r, { code: 0, loaded: 5, rejected: 0 });
    const tx = (await send(srv, 'GET', '/fhir/Bundle/stored-tx')).json;
    assert.equal(tx.type, 'transaction');
    assert.deepEqual(tx.entry[0].resource, inner);
    assert.equal(await status(srv, '/fhir/Bundle/stored-batch'), 200);
    assert.equal(await status(srv, '/fhir/Patient/in-bundle'), 404, 'the stored transaction was executed');
    assert.equal(await status(srv, '/fhir/Patient/nd-doomed'), 200, 'the stored batch was executed');
    assert.equal(await status(srv, '/fhir/Patient/nd-deleted'), 410, 'the deletion was not sent');
  });

  it('collection and searchset Bundles become PUTs at their ids; a lone resource loads too', async () => {
    const coll = write(dir, 'coll.json', JSON.stringify({
      resourceType: 'Bundle', type: 'collection', entry: [
        { fullUrl: 'urn:uuid:7f3a2b1c-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', id: 'co1' } },
        { resource: { resourceType: 'Observation', id: 'co2', status: 'final', code: { text: 'y' }, subject: { reference: 'urn:uuid:7f3a2b1c-0000-4000-8000-000000000001' } } },
      ],
    }));
    const ss = write(dir, 'search.json.gz', JSON.stringify({
      resourceType: 'Bundle', type: 'searchset', entry: [
        { resource: { resourceType: 'Patient', id: 'ss1' }, search: { mode: 'match' } },
        { resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] }, search: { mode: 'outcome' } },
      ],
    }));
    const lone = write(dir, 'lone.json', JSON.stringify({ resourceType: 'Practitioner', id: 'lone1', active: true }));
    const r = await runImport(['--url', srv.base, coll, ss, lone]);
    assertRun(r, { code: 0, loaded: 4, rejected: 0 });
    assert.equal(r.summary.files, 3);
    for (const p of ['Patient/co1', 'Patient/ss1', 'Practitioner/lone1']) assert.equal(await status(srv, `/fhir/${p}`), 200, p);
    const obs = (await send(srv, 'GET', '/fhir/Observation/co2')).json;
    assert.equal(obs.subject.reference, 'Patient/co1', 'the urn:uuid reference is rewritten to the PUT id');
  });

  it('a failing transaction Bundle is rejected whole with the reason, a batch per entry, and the rest loads', async () => {
    const tx = write(dir, 'tx-bad.json', JSON.stringify({
      resourceType: 'Bundle', type: 'transaction', entry: [
        { resource: { resourceType: 'Patient', id: 'txa' }, request: { method: 'PUT', url: 'Patient/txa' } },
        { resource: { resourceType: 'Patient', id: 'txb', birthDate: 'nope' }, request: { method: 'PUT', url: 'Patient/txb' } },
      ],
    }));
    const batch = write(dir, 'batch.json', JSON.stringify({
      resourceType: 'Bundle', type: 'batch', entry: [
        { resource: { resourceType: 'Patient', id: 'bta' }, request: { method: 'PUT', url: 'Patient/bta' } },
        { resource: { resourceType: 'Patient', id: 'btb', birthDate: 'nope' }, request: { method: 'PUT', url: 'Patient/btb' } },
      ],
    }));
    const good = write(dir, 'tx-good.json', JSON.stringify({
      resourceType: 'Bundle', type: 'transaction', entry: [
        { resource: { resourceType: 'Patient', id: 'txc' }, request: { method: 'PUT', url: 'Patient/txc' } },
      ],
    }));
    const missing = path.join(dir, 'missing.json');
    const doc = write(dir, 'doc.json', JSON.stringify({ resourceType: 'Bundle', type: 'document', entry: [] }));
    const r = await runImport(['--url', srv.base, tx, batch, missing, doc, good]);
    assertRun(r, { code: 1, loaded: 2, rejected: 3 });
    assert.equal(r.summary.rejections, 4, r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.startsWith(`${tx}: HTTP 4`) && /nope/.test(s)), r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.startsWith(`${batch}: entry 1: 400`)), r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.startsWith(`${missing}:`)), r.stdout);
    assert.ok(r.summary.reasons.some((s) => s.startsWith(`${doc}:`) && /document/.test(s)), r.stdout);
    assert.equal(await status(srv, '/fhir/Patient/txa'), 404, 'nothing of the failed transaction is stored');
    assert.equal(await status(srv, '/fhir/Patient/bta'), 200);
    assert.equal(await status(srv, '/fhir/Patient/txc'), 200);
  });

  it('--strict stops at the first rejection and exits 1', async () => {
    const a = write(dir, 'strict-a.ndjson', ndjson([{ resourceType: 'Patient', id: 'st1' }, 'not json', { resourceType: 'Patient', id: 'st3' }]));
    const b = write(dir, 'strict-b.ndjson', ndjson([{ resourceType: 'Patient', id: 'st4' }]));
    let r = await runImport(['--url', srv.base, '--strict', a, b]);
    assertRun(r, { code: 1 });
    assert.equal(r.summary.rejections, 1, r.stdout);
    assert.match(r.summary.reasons[0], /strict-a\.ndjson:2:/);
    assert.equal(await status(srv, '/fhir/Patient/st4'), 404, 'the file after the rejection is not loaded');

    const tx = write(dir, 'strict-tx.json', JSON.stringify({
      resourceType: 'Bundle', type: 'transaction', entry: [
        { resource: { resourceType: 'Patient', id: 'st5', birthDate: 'bad' }, request: { method: 'PUT', url: 'Patient/st5' } },
      ],
    }));
    const c = write(dir, 'strict-c.ndjson', ndjson([{ resourceType: 'Patient', id: 'st6' }]));
    r = await runImport(['--url', srv.base, '--strict', '--concurrency', '1', tx, c]);
    assertRun(r, { code: 1, loaded: 0, rejected: 1 });
    assert.equal(await status(srv, '/fhir/Patient/st6'), 404);
  });

  it('without --strict the same files load all they can', async () => {
    const a = path.join(dir, 'strict-a.ndjson');
    const b = path.join(dir, 'strict-b.ndjson');
    const r = await runImport(['--url', srv.base, a, b]);
    assertRun(r, { code: 1, loaded: 3, rejected: 1 });
    assert.equal(await status(srv, '/fhir/Patient/st4'), 200);
  });

  it('references among the imported resources resolve', async () => {
    await checkReferences(srv);
  });
});

describe('bron import interrupted', () => {
  const files = syntheaFiles(60);
  it('SIGINT finishes the Bundles in flight, prints the summary, exits 1; the store holds exactly what it counted', {
    skip: files ? false : `no Synthea sample in ${SYNTHEA_DIR}`,
  }, async () => {
    const data = scratch();
    const run = runImport(['--data', data, ...files]);
    await sleep(1500);
    run.child.kill('SIGINT');
    const r = await run;
    assertRun(r, { code: 1, rejected: 0 });
    assert.match(r.stderr, /interrupted/);
    assert.match(r.stdout, /not read: stopped/);
    const srv = await startServer({ dataDir: data });
    try {
      const c = await checkReferences(srv);
      assert.equal(c.resources, r.summary.loaded, 'every counted resource is stored, and only those');
    } finally {
      await srv.stop();
    }
  });
});

describe('bron import waits for a server that is starting', () => {
  it('retries refused connections with backoff until the server answers', async () => {
    const dir = scratch();
    const f = write(dir, 'late.ndjson', ndjson([{ resourceType: 'Patient', id: 'late1' }]));
    const port = await freePort();
    const run = runImport(['--url', `http://127.0.0.1:${port}/fhir`, f]);
    await sleep(700);
    const srv = await startServer({ port });
    try {
      const r = await run;
      assertRun(r, { code: 0, loaded: 1, rejected: 0 });
      assert.equal(await status(srv, '/fhir/Patient/late1'), 200);
    } finally {
      await srv.stop();
    }
  });

  it('gives up with a reason when nothing listens, and reads no further file', async () => {
    const dir = scratch();
    const f = write(dir, 'none.ndjson', ndjson([{ resourceType: 'Patient', id: 'none1' }]));
    const g = write(dir, 'none2.ndjson', ndjson([{ resourceType: 'Patient', id: 'none2' }]));
    const port = await freePort();
    const r = await runImport(['--url', `http://127.0.0.1:${port}/fhir`, '--retries', '3', '--concurrency', '1', f, g, g], { timeoutMs: 60000 });
    assertRun(r, { code: 1, loaded: 0, rejected: 1 });
    assert.equal(r.summary.rejections, 1, r.stdout);
    assert.match(r.summary.reasons[0], /none\.ndjson:1: not sent/);
    assert.match(r.stdout, /^files: +1 \(2 not read: stopped\)/m);
  });
});
