// bron reindex: rebuilding the search indexes from the stored bodies keeps
// every search answering as before, runs beside a live server on the same
// store (data directory, or database in PostgreSQL mode), and reports what it did.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, request, BRON_BIN, REPO_ROOT, assertCleanStderr, storeArgs } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };

async function ids(srv, query) {
  const r = await srv.request('GET', `/fhir/${query}`);
  assert.equal(r.status, 200, r.text);
  const b = r.json;
  return (b.entry || []).filter((e) => e.search.mode === 'match').map((e) => e.resource.id).sort();
}

function reindex(dataDir) {
  const r = spawnSync(BRON_BIN, ['reindex', ...storeArgs(dataDir)], { cwd: REPO_ROOT, encoding: 'utf8' });
  assertCleanStderr(r.stderr);
  return r;
}

describe('bron reindex', () => {
  it('rebuilds the rows so searches find the same resources, online beside the server', async () => {
    const srv = await startServer();
    try {
      for (let i = 0; i < 30; i++) {
        const body = JSON.stringify({
          resourceType: 'Patient',
          name: [{ family: i % 2 ? 'Renée' : 'Jansen', given: [`P${i}`] }],
          birthDate: `19${50 + i}-01-0${1 + (i % 9)}`,
          identifier: [{ system: 'http://example.org/mrn', value: `m${i}` }],
        });
        const r = await srv.request('POST', '/fhir/Patient', { headers: json, body });
        assert.equal(r.status, 201, r.text);
      }
      const queries = ['Patient?name=renee', 'Patient?family=jans', 'Patient?birthdate=ge1970',
        'Patient?identifier=http://example.org/mrn|m7', 'Patient?_count=100'];
      const before = await Promise.all(queries.map((q) => ids(srv, q)));
      assert.equal(before[0].length, 15);
      assert.equal(before[3].length, 1);
      const r = reindex(srv.dataDir);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /reindexed 30 of 30 resources/);
      const after = await Promise.all(queries.map((q) => ids(srv, q)));
      assert.deepEqual(after, before);
      // the server still writes and indexes after the reindex
      const w = await srv.request('POST', '/fhir/Patient', { headers: json,
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Renée' }] }) });
      assert.equal(w.status, 201);
      assert.equal((await ids(srv, 'Patient?name=renee')).length, 16);
    } finally {
      await srv.stop();
    }
  });

  it('refuses unknown arguments with a usage error', () => {
    const r = spawnSync(BRON_BIN, ['reindex', '--bogus'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unexpected argument/);
  });
});
