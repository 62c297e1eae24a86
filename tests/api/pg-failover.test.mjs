// Failover (issue 6, docs/scaling.md): Bron on a primary with a streaming
// standby, given both in one libpq URL (host=primary,standby and
// target_session_attrs=read-write). The primary dies (immediate stop, as a
// power cut), the standby is promoted, and the same Bron process serves
// again without a restart: 503 OperationOutcome while there is no primary,
// then writes and reads on the new primary, with every write that was
// acknowledged (and replicated) before the failure still there.
// PostgreSQL mode only (BRON_TEST_STORE=postgres).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, PG_MODE, REPO_ROOT, sleep } from './lib/server.mjs';
import { send, assertOutcome } from './lib/fhir.mjs';

const skip = PG_MODE ? false : 'PostgreSQL mode only (run by tests/run.sh api-pg)';
const CLUSTER_SH = path.join(REPO_ROOT, 'tests/pg/cluster.sh');

function cluster(...args) {
  const r = spawnSync('bash', [CLUSTER_SH, ...args], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`tests/pg/cluster.sh ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

const show = (r) => `${r.status} ${String(r.text).slice(0, 300)}`;

describe('failover to a promoted standby', { skip }, () => {
  let primary;
  let standby;
  let srv;
  before(() => {
    primary = fs.mkdtempSync('/tmp/bron-pgp.');
    standby = fs.mkdtempSync('/tmp/bron-pgs.');
    cluster('start', primary);
    cluster('createdb', primary, 'bron_failover');
    cluster('standby', primary, standby);
  });
  after(async () => {
    if (srv && !srv.stopped) await srv.crash().catch(() => {});
    for (const d of [primary, standby]) {
      if (!d) continue;
      try { cluster('destroy', d); } catch { fs.rmSync(d, { recursive: true, force: true }); }
    }
  });

  it('the same Bron process serves again on the promoted standby, nothing acknowledged lost', { timeout: 180000 }, async () => {
    const url = `postgresql:///bron_failover?host=${primary},${standby}&user=postgres&target_session_attrs=read-write`;
    srv = await startServer({ store: false, args: ['--store', url] });
    assert.equal((await send(srv, 'GET', '/health')).status, 200);

    // writes from 16 clients at once, every one acknowledged
    const acked = [];
    await Promise.all(Array.from({ length: 16 }, async (_, c) => {
      for (let k = 0; k < 5; k++) {
        const marker = `before ${c}.${k}`;
        const w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: marker } });
        assert.equal(w.status, 201, show(w));
        acked.push({ id: w.json.id, marker });
      }
    }));
    // the standby has replayed them (asynchronous replication: what the
    // primary acknowledged but did not ship yet would be lost on failover)
    for (let t0 = Date.now(); ; await sleep(100)) {
      const n = Number(cluster('psql', standby, 'bron_failover', '-tAc', 'SELECT count(*) FROM resource WHERE deleted = 0'));
      if (n === acked.length) break;
      assert.ok(Date.now() - t0 < 20000, `the standby replayed ${n} of ${acked.length} resources`);
    }

    cluster('crash', primary);
    // no primary: 503 OperationOutcome with Retry-After, quickly
    for (const [method, p, body] of [['POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'down' } }], ['GET', `/fhir/Basic/${acked[0].id}`], ['GET', '/health']]) {
      const t0 = Date.now();
      const r = await send(srv, method, p, body, {}, { timeout: 30000 });
      assertOutcome(r, 503, `${method} ${p} without a primary`);
      assert.ok(Date.now() - t0 < 12000, `${method} ${p} took ${Date.now() - t0} ms`);
      assert.ok(r.headers['retry-after'], `${method} ${p}: Retry-After`);
    }

    cluster('promote', standby);
    // the same process finds the new primary (libpq tries both hosts)
    let w;
    for (const t0 = Date.now(); ; await sleep(250)) {
      w = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'after' } }, {}, { timeout: 30000 });
      if (w.status === 201) break;
      assert.equal(w.status, 503, `while failing over: ${show(w)}`);
      assert.ok(Date.now() - t0 < 30000, `no write succeeded 30 s after the promotion: ${show(w)}`);
    }
    acked.push({ id: w.json.id, marker: 'after' });
    for (const a of acked) {
      const r = await send(srv, 'GET', `/fhir/Basic/${a.id}`);
      assert.equal(r.status, 200, `Basic/${a.id}: ${show(r)}`);
      assert.equal(r.json.code.text, a.marker);
    }
    const all = await send(srv, 'GET', '/fhir/Basic?_summary=count');
    assert.equal(all.json.total, acked.length);
    const upd = await send(srv, 'PUT', `/fhir/Basic/${acked[0].id}`, { resourceType: 'Basic', id: acked[0].id, code: { text: 'updated' } }, { 'If-Match': 'W/"1"' });
    assert.equal(upd.status, 200, show(upd));
    assert.equal(upd.json.meta.versionId, '2');
    assert.equal((await send(srv, 'GET', '/health')).status, 200);
    await srv.stop();
  });
});
