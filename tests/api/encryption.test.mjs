// Encryption at rest (issue 8, items 4 and 5), over HTTP and on the bytes:
//   SQLite - a store with patients (names, BSNs, codes): bron.db and
//   bron.db-wal hold none of them while the server runs (before any
//   checkpoint) nor after it stopped, and the same with --unencrypted does
//   (so the grep can fail); a wrong key and no key are refused with a clear
//   message and exit code 1/2; bron rekey while serving (the server keeps
//   serving, a restart with the new key reads everything, the old key is
//   refused); bron rekey --full offline (refused while serving); bron rekey
//   --unencrypted encrypts a store; a flipped byte in a page of one
//   resource: its read answers 500 OperationOutcome, never its bytes, the
//   other reads work and the server stays up.
//   PostgreSQL (the api-pg tier) - the body column holds none of the names
//   (index values do: docs/security.md), the key is checked at start, the
//   data key rewrapped while serving, an altered body is a 500.
// Every other test file runs encrypted too: lib/server.mjs gives every bron
// it starts the test process's key (BRON_KEY_FILE).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, tempDir, freePort, removeStore, storeArgs, storeUrl, pgSql, pgDbName, PG_MODE,
  BRON_BIN, REPO_ROOT, assertCleanStderr, sleep,
} from './lib/server.mjs';
import { client, send, assertOutcome } from './lib/fhir.mjs';

const BSN = 'http://fhir.nl/fhir/NamingSystem/bsn';
const PATIENTS = [
  { family: 'Oosterbroek-Kwakernaak', given: 'Zwaantje', bsn: '999911120', code: '44054006' },
  { family: 'Vandenhoogenband', given: 'Gerritdina', bsn: '999912343', code: '195967001' },
  { family: 'Wijnaldumstra', given: 'Hylkje', bsn: '999913565', code: '38341003' },
];
/** What must never be on disk in the clear: the names as written and as the
 * search index normalises them, the BSNs, the codes and their display. */
const SECRETS = PATIENTS.flatMap((p) => [p.family, p.family.toLowerCase(), p.given, p.given.toLowerCase(), p.bsn, p.code]);
const DISPLAY = 'Geheimzinnige-aandoening';
SECRETS.push(DISPLAY, DISPLAY.toLowerCase());

const dirs = [];
const running = [];
after(async () => {
  for (const s of running) if (!s.stopped) { try { await s.crash(); } catch { /* reported by its test */ } }
  for (const d of dirs) removeStore(d);
});

function dir(prefix) {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function start(opts) {
  const s = await startServer(opts);
  running.push(s);
  return s;
}

/** A key directory apart from the data (bron keygen --data-key). */
const keyDir = dir('keys-');
function newKey(name) {
  const file = path.join(keyDir, name);
  return { file, made: run(['keygen', '--data-key', file]) };
}

/** Run bron to completion with extra env (null deletes a variable); { code, stdout, stderr }. */
function run(args, env = {}, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const e = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === null) delete e[k];
      else e[k] = v;
    }
    const p = spawn(BRON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** `bron serve` that must refuse to start: its exit code and stderr. */
async function refused(args, env) {
  const port = await freePort();
  const r = await run(['serve', '--bind', '127.0.0.1', '--port', String(port), '--open', ...args], env, 30000);
  assert.equal(r.signal, null, `bron serve was still running (killed): ${r.stderr}`);
  assertCleanStderr(r.stderr);
  return r;
}

/** Patients with BSNs, a Condition with a code for each; returns their ids. */
async function writePatients(srv) {
  const fhir = client(srv);
  const ids = [];
  for (const p of PATIENTS) {
    const pat = await fhir.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', name: [{ family: p.family, given: [p.given] }], identifier: [{ system: BSN, value: p.bsn }] },
    });
    const cond = await fhir.create({
      resourceType: 'Condition',
      body: {
        resourceType: 'Condition',
        subject: { reference: `Patient/${pat.id}` },
        code: { coding: [{ system: 'http://snomed.info/sct', code: p.code, display: DISPLAY }] },
      },
    });
    ids.push({ p, patient: pat.id, condition: cond.id });
  }
  return ids;
}

/** Every patient and condition reads back, and searches by name, BSN and code find them. */
async function expectPatients(srv, ids) {
  const fhir = client(srv);
  for (const { p, patient, condition } of ids) {
    const pat = await fhir.read({ resourceType: 'Patient', id: patient });
    assert.equal(pat.name[0].family, p.family);
    assert.equal(pat.identifier[0].value, p.bsn);
    const cond = await fhir.read({ resourceType: 'Condition', id: condition });
    assert.equal(cond.code.coding[0].code, p.code);
    const byName = await fhir.search({ resourceType: 'Patient', searchParams: { family: p.family } });
    assert.ok(byName.entry.some((e) => e.resource.id === patient), `family=${p.family}`);
    const byBsn = await fhir.search({ resourceType: 'Patient', searchParams: { identifier: `${BSN}|${p.bsn}` } });
    assert.ok(byBsn.entry.some((e) => e.resource.id === patient), `identifier=${p.bsn}`);
    const byCode = await fhir.search({ resourceType: 'Condition', searchParams: { code: `http://snomed.info/sct|${p.code}` } });
    assert.ok(byCode.entry.some((e) => e.resource.id === condition), `code=${p.code}`);
  }
}

/** The secrets found in a file's bytes (none when it does not exist). */
function found(file) {
  if (!fs.existsSync(file)) return [];
  const bytes = fs.readFileSync(file);
  return SECRETS.filter((s) => bytes.includes(Buffer.from(s, 'utf8')));
}

/** Wait (up to 5 s) until the server's stderr matches re (it may arrive after the response). */
async function logged(srv, re) {
  for (let i = 0; i < 100 && !re.test(srv.stderr()); i++) await sleep(50);
  assert.match(srv.stderr(), re);
}

function sizeOf(file) {
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

const sqliteOnly = PG_MODE ? 'the embedded store (SQLite) only' : false;

describe('the embedded store is encrypted at rest', { skip: sqliteOnly }, () => {
  it('bron.db and bron.db-wal hold no name, BSN or code, while serving and after stop; unencrypted they do', { timeout: 120000 }, async () => {
    const data = dir('enc-');
    const srv = await start({ dataDir: data });
    assert.match(srv.stderr(), /encrypted at rest \(the whole store\)/);
    const ids = await writePatients(srv);
    await expectPatients(srv, ids);
    const db = path.join(data, 'bron.db');
    const wal = path.join(data, 'bron.db-wal');
    assert.ok(sizeOf(wal) > 4096, 'the writes are in the WAL (no checkpoint yet)');
    assert.deepEqual(found(wal), [], 'bron.db-wal while serving');
    assert.deepEqual(found(db), [], 'bron.db while serving');
    assert.deepEqual(found(path.join(data, 'bron.db-shm')), [], 'bron.db-shm while serving');
    await srv.stop({ keepData: true });
    assert.equal(sizeOf(wal), 0, 'checkpointed at stop');
    assert.ok(sizeOf(db) > 8 * 4096);
    assert.deepEqual(found(db), [], 'bron.db after stop');
    for (const f of fs.readdirSync(data)) assert.deepEqual(found(path.join(data, f)), [], f);
    assert.equal(fs.statSync(path.join(data, 'bron.db-key')).mode & 0o777, 0o600);
    // restarted: everything reads back
    const again = await start({ dataDir: data });
    await expectPatients(again, ids);
    await again.stop({ keepData: true });

    // the same writes, explicitly unencrypted: the grep finds them
    const plain = dir('plain-');
    const p = await start({ dataDir: plain, args: ['--unencrypted'] });
    assert.match(p.stderr(), /WARNING: --unencrypted: the store is NOT encrypted at rest/);
    await writePatients(p);
    const visible = PATIENTS.flatMap((x) => [x.family, x.given, x.bsn, x.code]).concat(DISPLAY);
    const inWal = found(path.join(plain, 'bron.db-wal'));
    for (const s of visible) assert.ok(inWal.includes(s), `'${s}' not found in the unencrypted WAL`);
    await p.stop({ keepData: true });
    const inDb = found(path.join(plain, 'bron.db'));
    for (const s of visible) assert.ok(inDb.includes(s), `'${s}' not found in the unencrypted bron.db`);
    assert.ok(!fs.existsSync(path.join(plain, 'bron.db-key')));
  });

  it('a wrong key, no key, and a key beside the data are refused with a clear message', { timeout: 120000 }, async () => {
    const data = dir('refuse-');
    const srv = await start({ dataDir: data });
    await writePatients(srv);
    await srv.stop({ keepData: true });
    const wrong = newKey('wrong.key');
    assert.equal((await wrong.made).code, 0);
    let r = await refused(['--data', data, '--key-file', wrong.file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the key does not open this store/);
    // a wrong key given as BRON_KEY itself
    r = await refused(['--data', data], { BRON_KEY_FILE: null, BRON_KEY: 'ab'.repeat(32) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the key does not open this store/);
    // a BRON_KEY that is no key at all
    r = await refused(['--data', data], { BRON_KEY_FILE: null, BRON_KEY: 'secret' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /BRON_KEY does not hold a key/);
    // no key at all: serve says how to give one
    r = await refused(['--data', data], { BRON_KEY_FILE: null, BRON_KEY: null });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give --key-file FILE \(bron keygen --data-key FILE makes one.*\) or, explicitly, --unencrypted/);
    // --unencrypted on an encrypted store: it needs its key
    r = await refused(['--data', data, '--unencrypted']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is encrypted: give its key/);
    // a key file inside the data directory
    fs.copyFileSync(process.env.BRON_KEY_FILE, path.join(data, 'data.key'));
    r = await refused(['--data', data, '--key-file', path.join(data, 'data.key')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lies in the data directory/);
    fs.rmSync(path.join(data, 'data.key'));
    // both --key-file and --unencrypted
    r = await refused(['--data', data, '--key-file', wrong.file, '--unencrypted']);
    assert.equal(r.code, 2);
    // an unencrypted store with a key: refused, with the way to encrypt it
    const plain = dir('plain-');
    const p = await start({ dataDir: plain, args: ['--unencrypted'] });
    await p.stop({ keepData: true });
    r = await refused(['--data', plain]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not encrypted: `bron rekey --data .* --unencrypted --new-key-file FILE` encrypts it/);
    // and the same for the other commands that open a store
    r = await run(['reindex', '--data', data], { BRON_KEY_FILE: null });
    assert.equal(r.code, 2);
    r = await run(['migrate', '--data', data, '--key-file', wrong.file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the key does not open this store/);
    r = await run(['migrate', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('bron rekey while serving: the server goes on, a restart needs the new key', { timeout: 120000 }, async () => {
    const data = dir('rekey-');
    const k1 = newKey('k1.key');
    const k2 = newKey('k2.key');
    assert.equal((await k1.made).code, 0);
    assert.equal((await k2.made).code, 0);
    assert.equal(fs.statSync(k1.file).mode & 0o777, 0o600);
    const srv = await start({ dataDir: data, args: ['--key-file', k1.file] });
    const ids = await writePatients(srv);
    // the old key is given by the environment here, the new one by a file
    const r = await run(['rekey', '--data', data, '--new-key-file', k2.file], { BRON_KEY_FILE: k1.file });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /the data key is wrapped by the new key now/);
    // the server keeps serving, reads and writes
    await expectPatients(srv, ids);
    const more = await writePatients(srv);
    await srv.stop({ keepData: true });
    let x = await refused(['--data', data, '--key-file', k1.file]);
    assert.equal(x.code, 1);
    assert.match(x.stderr, /the key does not open this store/);
    const again = await start({ dataDir: data, args: ['--key-file', k2.file] });
    await expectPatients(again, [...ids, ...more]);
    // a rekey with a wrong old key changes nothing
    x = await run(['rekey', '--data', data, '--key-file', k1.file, '--new-key-file', k1.file]);
    assert.equal(x.code, 1);
    assert.match(x.stderr, /the key does not open this store/);
    await expectPatients(again, ids);
    await again.stop({ keepData: true });
  });

  it('bron rekey --full re-encrypts offline (refused while serving); everything reads back', { timeout: 120000 }, async () => {
    const data = dir('full-');
    const k1 = newKey('f1.key');
    const k2 = newKey('f2.key');
    assert.equal((await k1.made).code, 0);
    assert.equal((await k2.made).code, 0);
    const srv = await start({ dataDir: data, args: ['--key-file', k1.file] });
    const ids = await writePatients(srv);
    let r = await run(['rekey', '--data', data, '--key-file', k1.file, '--new-key-file', k2.file, '--full']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /in use .* offline only/);
    await expectPatients(srv, ids);
    await srv.stop({ keepData: true });
    const before = fs.readFileSync(path.join(data, 'bron.db'));
    r = await run(['rekey', '--data', data, '--key-file', k1.file, '--new-key-file', k2.file, '--full']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /re-encrypted under a fresh data key/);
    const afterBytes = fs.readFileSync(path.join(data, 'bron.db'));
    assert.ok(!before.subarray(0, 4096).equals(afterBytes.subarray(0, 4096)), 'page 1 re-encrypted');
    assert.deepEqual(fs.readdirSync(data).sort(), ['bron.db', 'bron.db-key']);
    assert.deepEqual(found(path.join(data, 'bron.db')), []);
    const x = await refused(['--data', data, '--key-file', k1.file]);
    assert.match(x.stderr, /the key does not open this store/);
    const again = await start({ dataDir: data, args: ['--key-file', k2.file] });
    await expectPatients(again, ids);
    await again.stop({ keepData: true });
  });

  it('bron rekey --unencrypted encrypts an existing store (offline)', { timeout: 120000 }, async () => {
    const data = dir('encrypt-');
    const k = newKey('e.key');
    assert.equal((await k.made).code, 0);
    const p = await start({ dataDir: data, args: ['--unencrypted'] });
    const ids = await writePatients(p);
    await p.stop({ keepData: true });
    assert.ok(found(path.join(data, 'bron.db')).length > 0);
    const r = await run(['rekey', '--data', data, '--unencrypted', '--new-key-file', k.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(found(path.join(data, 'bron.db')), []);
    const srv = await start({ dataDir: data, args: ['--key-file', k.file] });
    await expectPatients(srv, ids);
    await srv.stop({ keepData: true });
  });

  it('a flipped byte in a page: that read is a 500 OperationOutcome, the rest is served', { timeout: 120000 }, async () => {
    const data = dir('flip-');
    let srv = await start({ dataDir: data });
    const ids = await writePatients(srv);
    await srv.stop({ keepData: true });
    const db = path.join(data, 'bron.db');
    const pagesBefore = sizeOf(db) / 4096;
    // one resource whose body takes ~50 new pages at the end of the file
    // (overflow pages, allocated first in its transaction)
    const marker = 'Zeer-lange-tekst-';
    const big = { resourceType: 'Basic', code: { text: 'big' }, extension: [{ url: 'http://example.org/big', valueString: marker.repeat(12000) }] };
    srv = await start({ dataDir: data });
    const created = await client(srv).create({ resourceType: 'Basic', body: big });
    await srv.stop({ keepData: true });
    assert.ok(sizeOf(db) / 4096 > pagesBefore + 40, 'the body took new pages');
    const fd = fs.openSync(db, 'r+');
    const at = (pagesBefore + 10) * 4096 + 1000; // the 11th new page
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0x04;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    srv = await start({ dataDir: data });
    const res = await send(srv, 'GET', `/fhir/Basic/${created.id}`);
    assertOutcome(res, 500, 'the altered resource');
    assert.ok(!res.text.includes(marker), 'no bytes of the altered resource');
    await logged(srv, /does not verify \(altered, moved, or written with another key\)/);
    // the other resources, searches and the server itself are fine
    await expectPatients(srv, ids);
    const health = await srv.request('GET', '/health');
    assert.equal(health.status, 200);
    const again = await send(srv, 'GET', `/fhir/Basic/${created.id}`);
    assertOutcome(again, 500, 'again');
    await srv.stop(); // exit code 0, no sanitizer report
  });
});

describe('PostgreSQL: resource bodies are encrypted by Bron', { skip: PG_MODE ? false : 'PostgreSQL mode only (the api-pg tier)' }, () => {
  it('the body column holds none of the names; index values are in the clear', { timeout: 120000 }, async () => {
    const data = dir('pgenc-');
    const srv = await start({ dataDir: data });
    assert.match(srv.stderr(), /encrypted at rest \(resource bodies; index values are not\)/);
    const ids = await writePatients(srv);
    await expectPatients(srv, ids);
    const name = pgDbName(storeUrl(data));
    const bodies = pgSql(name, "SELECT encode(body, 'hex') FROM resource_version WHERE body IS NOT NULL");
    const bytes = Buffer.from(bodies.replace(/\s+/g, ''), 'hex');
    assert.ok(bytes.length > 500);
    for (const s of SECRETS) assert.ok(!bytes.includes(Buffer.from(s)), `'${s}' in the body column`);
    assert.equal(pgSql(name, 'SELECT count(*) FROM resource_version WHERE get_byte(body, 0) <> 1'), '0');
    assert.equal(pgSql(name, 'SELECT count(*) FROM bron_key'), '1');
    // what the database sees in the clear: index values (documented)
    assert.equal(pgSql(name, `SELECT count(*) FROM sp_token WHERE code = '${PATIENTS[0].bsn}'`), '1');
    await srv.stop({ keepData: true });
  });

  it('a wrong key and no key are refused; the data key is rewrapped while serving', { timeout: 120000 }, async () => {
    const data = dir('pgkey-');
    const k1 = newKey('p1.key');
    const k2 = newKey('p2.key');
    assert.equal((await k1.made).code, 0);
    assert.equal((await k2.made).code, 0);
    const srv = await start({ dataDir: data, args: ['--key-file', k1.file] });
    const ids = await writePatients(srv);
    const store = storeArgs(data);
    let r = await run(['rekey', ...store, '--key-file', k1.file, '--new-key-file', k2.file]);
    assert.equal(r.code, 0, r.stderr);
    await expectPatients(srv, ids); // the running server keeps its data key
    await srv.stop({ keepData: true });
    r = await refused([...store, '--key-file', k1.file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the key does not open this store/);
    r = await refused([...store, '--unencrypted']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the database is encrypted: give its key/);
    r = await refused(store, { BRON_KEY_FILE: null });
    assert.equal(r.code, 2);
    const again = await start({ dataDir: data, args: ['--key-file', k2.file] });
    await expectPatients(again, ids);
    await again.stop({ keepData: true });
  });

  it('an altered body is a 500 OperationOutcome, never served', { timeout: 120000 }, async () => {
    const data = dir('pgflip-');
    const srv = await start({ dataDir: data });
    const ids = await writePatients(srv);
    const name = pgDbName(storeUrl(data));
    const victim = ids[1].patient;
    pgSql(name, `UPDATE resource_version SET body = overlay(body placing '\\x00'::bytea from 30 for 1) WHERE type = 'Patient' AND id = '${victim}'`);
    const res = await send(srv, 'GET', `/fhir/Patient/${victim}`);
    assertOutcome(res, 500, 'the altered body');
    const search = await send(srv, 'GET', '/fhir/Patient?_count=50');
    assertOutcome(search, 500, 'a search that would return it');
    await logged(srv, new RegExp(`the body of Patient/${victim} version 1 does not open`));
    const ok = await send(srv, 'GET', `/fhir/Patient/${ids[0].patient}`);
    assert.equal(ok.status, 200);
    await srv.stop();
  });
});
