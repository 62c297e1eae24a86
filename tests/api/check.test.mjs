// bron check over a real store written by a real server: consistent after
// creates, updates, deletes, a transaction and a resource with contained
// resources, both beside the running server and on the stopped store; then
// the store is damaged on purpose with SQL (sqlite3 on an --unencrypted
// SQLite store; psql on PostgreSQL, where the store stays encrypted and
// bron check gets the key from BRON_KEY_FILE as the server does) and
// bron check must exit 1 naming each problem: an index row deleted, one
// added, one changed, an index row of a deleted resource, the audit chain
// broken (a record changed under its hash), a contained resource's row
// removed. Usage errors exit 2.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  startServer, removeStore, storeArgs, storeUrl, pgDbName, pgSql, PG_MODE, BRON_BIN, REPO_ROOT, assertCleanStderr,
} from './lib/server.mjs';
import { send } from './lib/fhir.mjs';

const ENC = PG_MODE ? [] : ['--unencrypted']; // SQLite: plain, so sqlite3 can damage it

function check(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(BRON_BIN, ['check', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('exit', (code) => { assertCleanStderr(stderr); resolve({ code, stdout, stderr }); });
  });
}

/** Run SQL on the store of dataDir (sqlite3, or psql in PostgreSQL mode); the output. */
function sql(dataDir, text) {
  if (PG_MODE) return pgSql(pgDbName(storeUrl(dataDir)), text);
  const r = spawnSync('sqlite3', [path.join(dataDir, 'bron.db'), text], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${text}\n${r.stderr}`);
  return r.stdout.trim();
}

describe(`bron check${PG_MODE ? ' (PostgreSQL)' : ''}`, () => {
  let srv;
  let dataDir;
  let stopped = false;
  const ids = {};

  before(async () => {
    srv = await startServer({ args: ENC });
    dataDir = srv.dataDir;
    const put = async (type, id, body) => {
      const r = await send(srv, 'PUT', `/fhir/${type}/${id}`, { resourceType: type, id, ...body });
      assert.ok(r.status === 200 || r.status === 201, `${type}/${id}: ${r.status} ${r.text}`);
    };
    await put('Patient', 'chk-a', { name: [{ family: 'Alpha' }], identifier: [{ system: 'urn:chk', value: 'a' }] });
    await put('Patient', 'chk-a', { name: [{ family: 'Alpha2' }], identifier: [{ system: 'urn:chk', value: 'a2' }] });
    await put('Patient', 'chk-b', { name: [{ family: 'Beta' }], birthDate: '1970-01-02' });
    await put('Patient', 'chk-c', { name: [{ family: 'Gamma' }] });
    assert.equal((await srv.request('DELETE', '/fhir/Patient/chk-c')).status, 200);
    await put('Observation', 'chk-o', {
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/chk-a' },
      valueQuantity: { value: 72.5, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      contained: [{ resourceType: 'Practitioner', id: 'pr', name: [{ family: 'Inner' }] }],
      performer: [{ reference: '#pr' }],
    });
    const tx = await send(srv, 'POST', '/fhir', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:9d0f5c6e-0d7e-4d49-9a57-1b7f2d0f0a01', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'tx' }, subject: { reference: 'urn:uuid:9d0f5c6e-0d7e-4d49-9a57-1b7f2d0f0a01' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    assert.equal(tx.status, 200, tx.text);
    ids.rid = (name) => sql(dataDir, `SELECT rid FROM resource WHERE type = 'Patient' AND id = '${name}'`);
  });

  after(async () => {
    if (srv && !srv.stopped) await srv.stop({ keepData: true });
    if (dataDir) removeStore(dataDir);
  });

  it('finds the store consistent beside the running server', async () => {
    const r = await check([...storeArgs(dataDir), ...ENC]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^consistent: 6 resources, 8 versions, \d+ index rows, audit chain of \d+ records\n$/);
  });

  it('finds it consistent when stopped, and names every kind of damage', async () => {
    await srv.stop({ keepData: true });
    stopped = true;
    const args = [...storeArgs(dataDir), ...ENC];
    let r = await check(args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rows = Number(/(\d+) index rows/.exec(r.stdout)[1]);
    const records = Number(/audit chain of (\d+) records/.exec(r.stdout)[1]);
    assert.ok(rows > 10 && records >= 7, r.stdout);

    const a = ids.rid('chk-a');
    const b = ids.rid('chk-b');
    const c = ids.rid('chk-c');
    // an index row deleted (chk-b's birthdate), one added (chk-a), one changed (chk-a's identifier)
    sql(dataDir, `DELETE FROM sp_date WHERE rid = ${b}`);
    sql(dataDir, `INSERT INTO sp_uri(pid, rid, grp, uri) VALUES (12345, ${a}, 0, 'urn:extra')`);
    sql(dataDir, `UPDATE sp_token SET code = 'zz' WHERE rid = ${a} AND code = 'a2'`);
    // a row of the deleted chk-c
    sql(dataDir, `INSERT INTO sp_string(pid, rid, grp, norm, exact) VALUES (1, ${c}, 0, 'ghost', 'Ghost')`);
    // the audit chain: record 3 changed under its hash
    sql(dataDir, PG_MODE
      ? 'ALTER TABLE audit DISABLE TRIGGER audit_append_only; UPDATE audit SET outcome = 4 WHERE seq = 3'
      : 'DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 4 WHERE seq = 3');
    r = await check(args);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(out, /^problem: Patient\/chk-b version 1: index row missing: sp_date\|/m, out);
    assert.match(out, /^problem: Patient\/chk-a version 2: extra index row: sp_uri\|12345\|.*urn:extra$/m, out);
    assert.match(out, /^problem: Patient\/chk-a version 2: index row differs: stored sp_token\|.*\|zz\|.*from the body sp_token\|.*\|a2\|/m, out);
    assert.match(out, /^problem: Patient\/chk-c version 2: extra index row: sp_string\|1\|.*ghost/m, out);
    assert.match(out, /^problem: audit trail: record 3: record 3 was changed/m, out);
    assert.match(out, /^inconsistent: 5 problems \(6 resources, 8 versions, \d+ index rows, audit chain of 2 records\)$/m, out);
    // a contained resource's row gone: named, and its index rows left without a resource
    sql(dataDir, 'DELETE FROM resource WHERE container IS NOT NULL');
    r = await check(args);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^problem: Observation\/chk-o version 1: contained resource row missing: Practitioner\|Observation\/chk-o#pr$/m, r.stdout);
    assert.match(r.stdout, /^problem: sp_\w+: index rows of row \d+, which is no resource$/m, r.stdout);
  });

  it('refuses bad arguments and a store it cannot open', async () => {
    assert.equal((await check(['--bogus'])).code, 2);
    const r = await check(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage: bron check/);
    if (!PG_MODE && stopped) {
      // the plain store without --unencrypted: the key does not fit it
      const k = await check(['--data', dataDir]);
      assert.equal(k.code, 1);
    }
  });
});
