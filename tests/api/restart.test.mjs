// Restart and durability (issue 2, sections 5-7): write many resources, stop
// the server, start a new one on the same data dir, and read everything back
// byte for byte - current versions, every old version, and the history at
// instance, type and system level. Also: SIGINT shuts down as cleanly as
// SIGTERM, writes acknowledged before a SIGTERM or even a SIGKILL survive, and
// requests in flight at SIGTERM are finished, not half-done.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startServer, tempDir, pool, sleep, rawStatuses } from './lib/server.mjs';
import { client, allPages, send, newId } from './lib/fhir.mjs';

const dirs = [];
function dataDir() {
  const d = tempDir('restart-');
  dirs.push(d);
  return d;
}
const running = [];
async function start(opts) {
  const s = await startServer(opts);
  running.push(s);
  return s;
}
after(async () => {
  for (const s of running) if (!s.stopped) { try { await s.crash(); } catch { /* reported by the test */ } }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const TYPES = ['Patient', 'Observation', 'Basic', 'Encounter'];
const body = (type, i) => ({
  Patient: { resourceType: 'Patient', active: i % 2 === 0, name: [{ family: `Family${i}`, given: ['Ä', `G${i}`] }], birthDate: '1980-01-01' },
  Observation: { resourceType: 'Observation', status: 'final', code: { text: `obs ${i}` }, valueQuantity: { value: 70.5 + i, unit: 'kg' } },
  Basic: { resourceType: 'Basic', code: { text: `basic ${i}` } },
  Encounter: { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } },
}[type]);

/** Write a varied workload; returns the [type, id] of every resource touched. */
async function workload(srv) {
  const fhir = client(srv);
  const made = [];
  await pool(Array.from({ length: 48 }, (_, i) => i), 6, async (i) => {
    const type = TYPES[i % TYPES.length];
    const r = await fhir.create({ resourceType: type, body: body(type, i) });
    made.push([type, r.id, r]);
  });
  // updates (some twice), patches, deletes, update-as-create, a revive
  for (let k = 0; k < 16; k++) {
    const [type, id, r] = made[k];
    await fhir.update({ resourceType: type, id, body: { ...r, meta: undefined, id, language: 'nl' } });
    if (k % 4 === 0) await fhir.update({ resourceType: type, id, body: { ...r, meta: undefined, id, language: 'en' } });
  }
  for (let k = 16; k < 22; k++) {
    const [type, id] = made[k];
    await fhir.patch({ resourceType: type, id, jsonPatch: [{ op: 'add', path: '/language', value: 'de' }] });
  }
  for (let k = 22; k < 30; k++) {
    const [type, id] = made[k];
    await fhir.delete({ resourceType: type, id });
  }
  const [rtype, rid, rres] = made[22];
  await fhir.update({ resourceType: rtype, id: rid, body: { ...rres, meta: undefined, id: rid, language: 'fr' } });
  for (let k = 0; k < 3; k++) {
    const id = newId('restart');
    await fhir.update({ resourceType: 'Basic', id, body: { resourceType: 'Basic', id, code: { text: `client id ${k}` } } });
    made.push(['Basic', id]);
  }
  return made.map(([t, id]) => [t, id]);
}

/** Everything the API shows about the stored data, with the base URL replaced by BASE. */
async function snapshot(srv, made) {
  const norm = (x) => JSON.parse(JSON.stringify(x).split(srv.base).join('BASE'));
  const histEntries = async (p) => norm((await allPages(srv, p)).entries);
  const snap = { reads: {}, vreads: {}, history: {}, typeHistory: {} };
  for (const [type, id] of made) {
    const r = await send(srv, 'GET', `/fhir/${type}/${id}`);
    snap.reads[`${type}/${id}`] = { status: r.status, body: r.text, etag: r.headers.etag, lastModified: r.headers['last-modified'] };
    const h = await histEntries(`/fhir/${type}/${id}/_history?_count=1000`);
    snap.history[`${type}/${id}`] = h;
    for (const e of h) {
      const v = /W\/"(.+)"/.exec(e.response.etag)[1];
      const vr = await send(srv, 'GET', `/fhir/${type}/${id}/_history/${v}`);
      snap.vreads[`${type}/${id}/${v}`] = { status: vr.status, body: vr.status === 200 ? vr.text : '', etag: vr.headers.etag };
    }
  }
  for (const type of TYPES) snap.typeHistory[type] = await histEntries(`/fhir/${type}/_history?_count=1000`);
  snap.systemHistory = await histEntries('/fhir/_history?_count=1000');
  return snap;
}

describe('restart on the same data dir', () => {
  it('reads back every resource, version and history identical (same bytes) after SIGTERM and restart', { timeout: 300000 }, async () => {
    const dir = dataDir();
    const a = await start({ dataDir: dir });
    const made = await workload(a);
    const before = await snapshot(a, made);
    assert.equal(Object.keys(before.reads).length, made.length);
    assert.ok(Object.values(before.reads).filter((r) => r.status === 410).length === 7, 'seven resources stay deleted');
    await a.stop();

    const b = await start({ dataDir: dir });
    const afterSnap = await snapshot(b, made);
    for (const k of Object.keys(before.reads)) {
      assert.deepEqual(afterSnap.reads[k], before.reads[k], `read of ${k} changed across the restart`);
    }
    for (const k of Object.keys(before.vreads)) {
      assert.deepEqual(afterSnap.vreads[k], before.vreads[k], `vread of ${k} changed across the restart`);
    }
    assert.deepEqual(afterSnap.history, before.history, 'instance histories changed across the restart');
    assert.deepEqual(afterSnap.typeHistory, before.typeHistory, 'type histories changed across the restart');
    assert.deepEqual(afterSnap.systemHistory, before.systemHistory, 'system history changed across the restart');

    // and the store goes on from where it was
    const fhir = client(b);
    const [type, id] = made[1];
    const cur = await fhir.read({ resourceType: type, id });
    const next = await fhir.update({ resourceType: type, id, body: { ...cur, language: 'es' } });
    assert.equal(Number(next.meta.versionId), Number(cur.meta.versionId) + 1);
    const fresh = await fhir.create({ resourceType: 'Patient', body: body('Patient', 99) });
    assert.ok(!made.some(([, mid]) => mid === fresh.id), 'a new create after restart reused an existing id');
    await b.stop();
  });

  it('SIGINT shuts down cleanly (exit 0) and keeps the data', { timeout: 120000 }, async () => {
    const dir = dataDir();
    const a = await start({ dataDir: dir });
    const fhir = client(a);
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await fhir.create({ resourceType: 'Patient', body: body('Patient', i) }));
    await a.stop({ signal: 'SIGINT' });
    const b = await start({ dataDir: dir });
    const fhirB = client(b);
    for (const c of created) assert.deepEqual(await fhirB.read({ resourceType: 'Patient', id: c.id }), c);
    await b.stop();
  });
});

describe('durability', () => {
  it('requests in flight at SIGTERM are finished or refused, and every acknowledged write survives', { timeout: 300000 }, async () => {
    const dir = dataDir();
    const a = await start({ dataDir: dir });
    const acked = [];
    let sent = 0;
    let signalled = false;
    const jobs = Array.from({ length: 120 }, (_, i) => i);
    await pool(jobs, 12, async (i) => {
      if (signalled && i % 2) return; // stop feeding once signalled, mostly
      sent++;
      if (sent === 30) { signalled = true; a.proc.kill('SIGTERM'); }
      let res;
      try {
        res = await send(a, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: `inflight ${i}` } });
      } catch {
        return; // refused or connection closed: not acknowledged, fine
      }
      // 503 while shutting down is fair; any other 5xx is not
      assert.ok(res.status < 500 || res.status === 503, `a request in flight at shutdown got ${res.status}: ${res.text.slice(0, 200)}`);
      if (res.status === 201) acked.push(res.json);
    });
    await a.stop({ signal: null });
    assert.ok(acked.length >= 1, 'no write was acknowledged');
    const b = await start({ dataDir: dir });
    for (const r of acked) {
      const got = await send(b, 'GET', `/fhir/Basic/${r.id}`);
      assert.equal(got.status, 200, `acknowledged create Basic/${r.id} lost across SIGTERM`);
      assert.deepEqual(got.json, r);
    }
    await b.stop();
  });

  it('a request half-sent when SIGTERM arrives is finished and stored; an idle keep-alive connection does not hold up the exit', { timeout: 120000 }, async () => {
    const dir = dataDir();
    const a = await start({ dataDir: dir });
    // an idle keep-alive connection, as a browser or connection pool leaves open
    const idle = net.connect(a.port, '127.0.0.1');
    await new Promise((r) => idle.on('connect', r));
    idle.on('error', () => {});
    idle.write(`GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n\r\n`);
    // a create whose body is only half sent
    const body = JSON.stringify({ resourceType: 'Basic', code: { text: 'half sent at SIGTERM' } });
    const sock = net.connect(a.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let text = '';
    sock.on('data', (d) => { text += d.toString('latin1'); });
    sock.on('error', () => {});
    const closed = new Promise((r) => sock.on('close', r));
    sock.write(`POST /fhir/Basic HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/fhir+json\r\n`
      + `Accept: application/fhir+json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 20)}`);
    await sleep(300);
    const t0 = Date.now();
    a.proc.kill('SIGTERM');
    await sleep(200);
    sock.write(body.slice(20));
    await Promise.race([closed, sleep(15000)]);
    await a.stop({ signal: null });
    idle.destroy();
    assert.ok(Date.now() - t0 < 15000, 'shutdown took longer than 15 s');
    assert.deepEqual(rawStatuses(text), [201], `the request in flight at SIGTERM was not finished: ${JSON.stringify(text.slice(0, 300))}`);
    const loc = /\r\nlocation: *([^\r\n]+)/i.exec(text);
    assert.ok(loc, 'the 201 has no Location header');
    const id = /\/Basic\/([^/]+)\/_history\//.exec(loc[1])[1];
    const b = await start({ dataDir: dir });
    const got = await send(b, 'GET', `/fhir/Basic/${id}`);
    assert.equal(got.status, 200, 'the request finished during shutdown was not stored');
    assert.deepEqual(got.json.code, { text: 'half sent at SIGTERM' });
    await b.stop();
  });

  it('every acknowledged write survives a SIGKILL (durable when acknowledged)', { timeout: 300000 }, async () => {
    const dir = dataDir();
    const a = await start({ dataDir: dir });
    const fhir = client(a);
    const acked = [];
    await pool(Array.from({ length: 40 }, (_, i) => i), 8, async (i) => {
      const r = await fhir.create({ resourceType: 'Basic', body: { resourceType: 'Basic', code: { text: `crash ${i}` } } });
      acked.push(r);
    });
    const upd = await fhir.update({ resourceType: 'Basic', id: acked[0].id, body: { ...acked[0], language: 'nl' } });
    // more writes in flight while the process is killed
    const inflight = Array.from({ length: 8 }, (_, i) => send(a, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: `lost? ${i}` } }).catch(() => null));
    await a.crash();
    const late = (await Promise.all(inflight)).filter((r) => r && r.status === 201).map((r) => r.json);

    const b = await start({ dataDir: dir });
    for (const r of [...acked.slice(1), ...late]) {
      const got = await send(b, 'GET', `/fhir/Basic/${r.id}`);
      assert.equal(got.status, 200, `acknowledged create Basic/${r.id} lost across SIGKILL`);
      assert.deepEqual(got.json, r);
    }
    const got = await send(b, 'GET', `/fhir/Basic/${acked[0].id}`);
    assert.deepEqual(got.json, upd, 'acknowledged update lost across SIGKILL');
    await b.stop();
  });
});
