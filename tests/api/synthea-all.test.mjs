// The Synthea sample loads as transactions with zero rejections and intact
// references (issue 5, Tests): `bron import --url` posts every bundle of
// ../shared/data/synthea to a running durable server, then every stored
// resource is read back through the system history and every reference in
// it must name a stored resource that GETs 200. The whole sample (600
// bundles, ~185k resources) runs with BRON_FULL=1; otherwise the first 20.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, assertCleanStderr } from './lib/server.mjs';
import { SYNTHEA_DIR, syntheaFiles, countEntries, runImport, checkReferences } from './import-check.mjs';

const FULL = process.env.BRON_FULL === '1';
const files = syntheaFiles(FULL ? undefined : 20);

describe(`Synthea sample (${FULL ? 'all bundles' : 'first 20 bundles; BRON_FULL=1 for all'})`, () => {
  it('loads as transactions with zero rejections and every reference resolves', {
    skip: files ? false : `no Synthea sample in ${SYNTHEA_DIR}`,
    timeout: FULL ? 4 * 3600 * 1000 : 600 * 1000,
  }, async (t) => {
    const expected = countEntries(files);
    const srv = await startServer();
    try {
      const started = Date.now();
      const r = await runImport(['--url', srv.base, ...files], { timeoutMs: FULL ? 4 * 3600 * 1000 : 600 * 1000 });
      assertCleanStderr(r.stderr);
      assert.equal(r.code, 0, `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-3000)}`);
      assert.equal(r.summary.rejected, 0, r.stdout);
      assert.equal(r.summary.loaded, expected, r.stdout);
      assert.equal(r.summary.files, files.length);
      t.diagnostic(`import: ${files.length} bundles, ${r.summary.loaded} resources in ${r.summary.time} s (${r.summary.rate} resources/s)`);
      const checkStart = Date.now();
      const c = await checkReferences(srv);
      assert.equal(c.resources, expected);
      t.diagnostic(`check: ${c.resources} resources, ${c.references} references to ${c.targets} targets, all resolve (${((Date.now() - checkStart) / 1000).toFixed(1)} s; total ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } finally {
      await srv.stop();
    }
  });
});
