// Concurrent clients (issue 2, section 7): 16 clients doing read-modify-write on
// one resource with If-Match lose no update; concurrent creates get distinct
// ids; concurrent update-as-create of one id creates it exactly once; readers
// running beside writers always see a whole, consistent version.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { client, responseOf, etagVersion, allPages, send, newId } from './lib/fhir.mjs';

let srv;

before(async () => { srv = await startServer(); });
after(async () => { if (srv) await srv.stop(); });

const COUNTER_URL = 'http://example.org/fhir/StructureDefinition/counter';
const counterOf = (r) => {
  const ext = (r.extension || []).find((e) => e.url === COUNTER_URL);
  assert.ok(ext, `resource has no counter extension: ${JSON.stringify(r).slice(0, 200)}`);
  return ext.valueInteger;
};
const withCounter = (r, n) => ({ ...r, extension: [{ url: COUNTER_URL, valueInteger: n }] });

describe('optimistic locking under contention', () => {
  it('16 clients x 10 If-Match increments of one counter: 160, version 161, no lost update', { timeout: 300000 }, async () => {
    const CLIENTS = 16;
    const EACH = 10;
    const setup = client(srv);
    const basic = await setup.create({ resourceType: 'Basic', body: withCounter({ resourceType: 'Basic', code: { text: 'counter' } }, 0) });
    const id = basic.id;
    let conflicts = 0;

    async function worker() {
      const fhir = client(srv); // one client per simulated application
      let done = 0;
      for (let attempt = 0; done < EACH; attempt++) {
        assert.ok(attempt < 5000, 'a client made no progress in 5000 attempts');
        const cur = await fhir.read({ resourceType: 'Basic', id });
        const etag = responseOf(cur).headers.get('etag');
        assert.equal(etagVersion(etag), cur.meta.versionId, 'ETag and meta.versionId agree');
        const next = withCounter(cur, counterOf(cur) + 1);
        try {
          const res = await fhir.update({ resourceType: 'Basic', id, body: next, options: { headers: { 'If-Match': etag } } });
          assert.equal(Number(res.meta.versionId), Number(cur.meta.versionId) + 1, 'a successful If-Match update is the next version');
          assert.equal(counterOf(res), counterOf(cur) + 1);
          done++;
        } catch (e) {
          if (e.response && e.response.status === 412) { conflicts++; continue; }
          throw e;
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, worker));

    const final = await setup.read({ resourceType: 'Basic', id });
    assert.equal(counterOf(final), CLIENTS * EACH, `lost updates: counter is ${counterOf(final)}`);
    assert.equal(final.meta.versionId, String(CLIENTS * EACH + 1));
    const { entries } = await allPages(srv, `/fhir/Basic/${id}/_history?_count=1000`);
    assert.equal(entries.length, CLIENTS * EACH + 1, 'one version per successful update');
    for (const e of entries) {
      assert.equal(counterOf(e.resource), Number(e.resource.meta.versionId) - 1, `version ${e.resource.meta.versionId} holds the wrong count`);
    }
    assert.ok(conflicts > 0, 'expected some 412 conflicts with 16 contending clients');
  });

  it('16 clients PUT the same new id at once: exactly one 201, the rest 200, versions 1..16', { timeout: 120000 }, async () => {
    const id = newId('race');
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => send(srv, 'PUT', `/fhir/Basic/${id}`, withCounter({ resourceType: 'Basic', id, code: { text: 'race' } }, i))));
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses ${statuses}`);
    assert.equal(statuses.filter((s) => s === 200).length, 15, `statuses ${statuses}`);
    const versions = results.map((r) => r.json.meta.versionId).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: 16 }, (_, i) => String(i + 1)));
    const read = await send(srv, 'GET', `/fhir/Basic/${id}`);
    assert.equal(read.json.meta.versionId, '16');
  });
});

describe('parallel writers and readers', () => {
  it('16 clients x 20 creates: all distinct ids, all readable, all in the type history', { timeout: 300000 }, async () => {
    const ids = [];
    await Promise.all(Array.from({ length: 16 }, async (_, c) => {
      const fhir = client(srv);
      for (let i = 0; i < 20; i++) {
        const r = await fhir.create({ resourceType: 'Observation', body: { resourceType: 'Observation', status: 'final', code: { text: `c${c} i${i}` } } });
        assert.equal(r.meta.versionId, '1');
        ids.push(r.id);
      }
    }));
    assert.equal(new Set(ids).size, 320, 'concurrent creates got the same id');
    const fhir = client(srv);
    for (const id of ids) assert.equal((await fhir.read({ resourceType: 'Observation', id })).id, id);
    const { entries } = await allPages(srv, '/fhir/Observation/_history?_count=1000');
    assert.equal(entries.length, 320);
  });

  it('readers beside writers always see a whole version whose ETag, versionId and content agree', { timeout: 300000 }, async () => {
    const fhir = client(srv);
    const ids = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await fhir.create({ resourceType: 'Basic', body: withCounter({ resourceType: 'Basic', code: { text: 'rw' } }, 0) })).id);
    }
    let writing = true;
    const writers = ids.map(async (id) => {
      const w = client(srv);
      for (let n = 1; n <= 25; n++) {
        await w.update({ resourceType: 'Basic', id, body: withCounter({ resourceType: 'Basic', id, code: { text: 'rw' } }, n) });
      }
    });
    let reads = 0;
    const readers = Array.from({ length: 8 }, async (_, k) => {
      const r = client(srv);
      while (writing) {
        const id = ids[(k + reads) % ids.length];
        const got = await r.read({ resourceType: 'Basic', id });
        reads++;
        assert.equal(etagVersion(responseOf(got).headers.get('etag')), got.meta.versionId);
        assert.equal(counterOf(got), Number(got.meta.versionId) - 1, 'a read saw a version whose content does not match its versionId');
      }
    });
    await Promise.all(writers);
    writing = false;
    await Promise.all(readers);
    assert.ok(reads > 0);
    for (const id of ids) assert.equal((await fhir.read({ resourceType: 'Basic', id })).meta.versionId, '26');
  });
});

describe('shutdown', () => {
  it('the server exits 0 on SIGTERM with no sanitizer report', async () => {
    await srv.stop();
  });
});
