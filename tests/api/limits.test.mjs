// Limits everywhere (issue 10, item 6): each limit of `bron serve` works, is
// configurable (flag or --config file), and a request over it gets a clear
// answer: request head (--max-header, 431), connections (--max-connections,
// --max-connections-per-ip: closed), request rate (--rate-limit, 429
// throttled with Retry-After), request time (--request-timeout, 503
// too-costly), idle connections (--idle-timeout: closed), query cost
// (--max-include, _include:iterate rounds, _count: warnings in the Bundle).
// docs/robustness.md lists the defaults.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, runBron, tempDir, sleep, removeStore } from './lib/server.mjs';

const JSON_CT = { 'content-type': 'application/fhir+json' };
const servers = [];
async function serve(args, opts = {}) {
  const s = await startServer({ args, ...opts });
  servers.push(s);
  return s;
}
after(async () => { for (const s of servers) await s.stop(); });

/** Write raw bytes on a new connection; resolve with what came back and whether the server closed it. */
function raw(port, data, { timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const started = Date.now();
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeout);
    sock.on('connect', () => { if (data) sock.write(data); });
    sock.on('data', (d) => chunks.push(d));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

/** Open n idle connections; after a moment, how many did the server close? Returns the sockets too. */
async function openIdle(port, n) {
  const socks = [];
  let closed = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', resolve);
    s.on('error', () => { resolve(); });
    s.on('close', () => { closed++; });
    socks.push(s);
  })));
  await sleep(500);
  return { socks, closed: () => closed };
}

function assertOutcome(res, status, code) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] || '', /^application\/fhir\+json/);
  assert.equal(res.json.resourceType, 'OperationOutcome');
  if (code) assert.equal(res.json.issue[0].code, code, res.text);
}

describe('bron serve --help and bad values', () => {
  it('--help documents every limit with its default', async () => {
    const r = await runBron(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--max-body', '--max-entries', '--max-header', '--max-connections', '--max-connections-per-ip', '--rate-limit', '--rate-burst', '--request-timeout', '--idle-timeout', '--max-include', '--db-timeout']) {
      assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}`);
    }
  });
  it('a bad limit stops the start with a message (exit 2)', async () => {
    for (const bad of [['--max-header', '100'], ['--max-connections', '0'], ['--rate-limit', '-1'], ['--request-timeout', 'soon'], ['--idle-timeout', '0'], ['--max-include', 'x']]) {
      const r = await runBron(['serve', '--open', '--unencrypted', '--data', tempDir(), ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`bad value for '${bad[0]}'`));
    }
  });
});

describe('--max-header', () => {
  it('a request head over the default (48 KiB) gets 431; with a larger --max-header it is served', async () => {
    const s = await serve([]);
    const head = (n) => `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(n)}\r\nConnection: close\r\n\r\n`;
    assert.match((await raw(s.port, head(30000))).text, /^HTTP\/1\.1 200 /);
    const big = await raw(s.port, head(60000));
    assert.match(big.text, /^HTTP\/1\.1 431 /, big.text.slice(0, 200));
    const s2 = await serve(['--max-header', '131072']);
    assert.match((await raw(s2.port, head(60000))).text, /^HTTP\/1\.1 200 /);
    assert.match((await raw(s2.port, head(140000))).text, /^HTTP\/1\.1 431 /);
  });
});

describe('--max-connections and --max-connections-per-ip', () => {
  it('at --max-connections a new connection waits (in the listen backlog) until one closes', async () => {
    const s = await serve(['--max-connections', '4', '--threads', '1']);
    const idle = await openIdle(s.port, 4);
    assert.equal(idle.closed(), 0);
    const waiting = raw(s.port, 'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeout: 8000 });
    await sleep(1000);
    const early = await Promise.race([waiting.then(() => 'answered'), sleep(10).then(() => 'waiting')]);
    assert.equal(early, 'waiting', 'a fifth connection was served while four were open');
    for (const x of idle.socks) x.destroy();
    const r = await waiting;
    assert.match(r.text, /^HTTP\/1\.1 200 /, 'served once the others closed');
  });
  it('connections from one address over --max-connections-per-ip are closed (set in a --config file)', async () => {
    const dir = tempDir('conf-');
    const conf = path.join(dir, 'bron.conf');
    fs.writeFileSync(conf, 'max-connections-per-ip = 3\nthreads = 1\n');
    const s = await serve(['--config', conf]);
    const idle = await openIdle(s.port, 8);
    assert.ok(idle.closed() >= 5, `only ${idle.closed()} of 8 connections closed with a per-address limit of 3`);
    for (const x of idle.socks) x.destroy();
    await sleep(300);
    assert.equal((await s.request('GET', '/fhir/metadata')).status, 200);
  });
});

describe('--rate-limit', () => {
  it('past the burst a client gets 429 throttled with Retry-After; the bucket refills (set in a --config file)', async () => {
    const dir = tempDir('conf-');
    const conf = path.join(dir, 'bron.conf');
    fs.writeFileSync(conf, '# per client address\nrate-limit = 5\nrate-burst = 5\n');
    // the readiness probe of startServer spends tokens too: wait for a full bucket
    const s = await serve(['--config', conf]);
    await sleep(1200);
    const res = [];
    const t0 = Date.now();
    for (let i = 0; i < 12; i++) res.push(await s.request('GET', '/fhir/Patient?_count=1'));
    // the burst, plus what refilled meanwhile (5 a second) on a slow machine
    const most = 5 + Math.ceil(((Date.now() - t0) / 1000) * 5);
    const ok = res.filter((r) => r.status === 200).length;
    const throttled = res.filter((r) => r.status === 429);
    assert.ok(ok >= 5 && ok <= most, `${ok} of 12 answered 200 with a burst of 5 (at most ${most})`);
    assert.equal(ok + throttled.length, 12);
    assert.ok(throttled.length >= 1, 'none throttled');
    for (const r of throttled) {
      assertOutcome(r, 429, 'throttled');
      assert.match(r.headers['retry-after'] || '', /^[1-9][0-9]*$/);
    }
    await sleep(1100);
    assert.equal((await s.request('GET', '/fhir/Patient?_count=1')).status, 200, 'the bucket refills');
  });
  it('is off by default: 60 requests at once are all served', async () => {
    const s = await serve([]);
    const res = await Promise.all(Array.from({ length: 60 }, () => s.request('GET', '/fhir/Patient?_count=1')));
    assert.deepEqual([...new Set(res.map((r) => r.status))], [200]);
  });
});

describe('--request-timeout', () => {
  it('a search still running past the limit is stopped: 503 too-costly; writes and other requests go on', async () => {
    // 20 ms: the heavy search below takes 100-500 ms on this store (release)
    const s = await serve(['--request-timeout', '0.02', '--sync', '0']);
    const entry = Array.from({ length: 3000 }, (_, i) => ({ resource: { resourceType: 'Patient', name: [{ family: `fam${i % 97} word${i}`, given: [`g${i % 13}`] }] }, request: { method: 'POST', url: 'Patient' } }));
    const b = await s.request('POST', '/fhir', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }) });
    assert.equal(b.status, 200, b.text.slice(0, 300));
    // 100 :contains alternatives over 3,000 names: a full scan per value
    const values = Array.from({ length: 100 }, (_, i) => `x${i}q`).join(',');
    const heavy = `/fhir/Patient?name:contains=${values}&given:contains=${values}&_total=accurate`;
    const t0 = Date.now();
    const r = await s.request('GET', heavy);
    assertOutcome(r, 503, 'too-costly');
    assert.match(r.json.issue[0].diagnostics, /--request-timeout/);
    assert.ok(Date.now() - t0 < 5000, `the search was stopped only after ${Date.now() - t0} ms`);
    // the server goes on, and writes are never cut short by the limit
    assert.equal((await s.request('GET', '/fhir/metadata')).status, 200);
    const w = await s.request('POST', '/fhir/Patient', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Patient', active: true }) });
    assert.equal(w.status, 201, w.text);
    // without the limit the same search on the same store completes
    await s.stop({ keepData: true });
    const s2 = await serve(['--request-timeout', '0'], { dataDir: s.dataDir });
    try {
      assert.equal((await s2.request('GET', heavy)).status, 200);
      assert.equal((await s2.request('GET', w.headers.location.replace(/^.*\/fhir\//, '/fhir/').replace(/\/_history\/.*$/, ''))).status, 200);
    } finally {
      await s2.stop();
      removeStore(s.dataDir);
    }
  });
});

describe('--idle-timeout', () => {
  it('a connection silent in the middle of a request (slow-loris) or before it is closed after the timeout', async () => {
    const s = await serve(['--idle-timeout', '1']);
    const [partial, silent] = await Promise.all([
      raw(s.port, 'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n', { timeout: 6000 }),
      raw(s.port, null, { timeout: 6000 }),
    ]);
    for (const r of [partial, silent]) {
      assert.ok(r.closed, 'the connection was not closed');
      assert.ok(r.ms >= 800 && r.ms < 4500, `closed after ${r.ms} ms with --idle-timeout 1`);
    }
    assert.equal((await s.request('GET', '/fhir/metadata')).status, 200);
  });
});

describe('query cost', () => {
  let s;
  it('_revinclude over --max-include adds that many and warns too-costly', async () => {
    s = await serve(['--max-include', '3']);
    const entry = [{ fullUrl: 'urn:uuid:5b0e7c3e-7a4b-4c1e-9f1d-000000000001', resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } }];
    for (let i = 0; i < 10; i++) entry.push({ resource: { resourceType: 'Observation', status: 'final', code: { text: 'q' }, subject: { reference: 'urn:uuid:5b0e7c3e-7a4b-4c1e-9f1d-000000000001' } }, request: { method: 'POST', url: 'Observation' } });
    const t = await s.request('POST', '/fhir', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    assert.equal(t.status, 200, t.text);
    const r = await s.request('GET', '/fhir/Patient?_revinclude=Observation:subject');
    assert.equal(r.status, 200, r.text);
    const included = r.json.entry.filter((e) => e.search && e.search.mode === 'include');
    assert.equal(included.length, 3);
    const outcome = r.json.entry.find((e) => e.search && e.search.mode === 'outcome');
    assert.ok(outcome, 'no OperationOutcome in the Bundle');
    assert.ok(outcome.resource.issue.some((i) => i.code === 'too-costly' && /--max-include/.test(i.diagnostics)), JSON.stringify(outcome.resource));
  });
  it('_include:iterate stops after 4 rounds with a warning', async () => {
    // a chain of 7 patients, each linking to the next
    const ids = Array.from({ length: 7 }, (_, i) => `chain-${i}`);
    const entry = ids.map((id, i) => ({ resource: { resourceType: 'Patient', id, link: i < 6 ? [{ other: { reference: `Patient/${ids[i + 1]}` }, type: 'seealso' }] : undefined }, request: { method: 'PUT', url: `Patient/${id}` } }));
    const t = await s.request('POST', '/fhir', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    assert.equal(t.status, 200, t.text);
    const r = await s.request('GET', '/fhir/Patient?_id=chain-0&_include:iterate=Patient:link');
    assert.equal(r.status, 200, r.text);
    const included = r.json.entry.filter((e) => e.search && e.search.mode === 'include').map((e) => e.resource.id);
    assert.equal(included.length, 3, `included ${included}`); // cut by --max-include 3 as well
    const s2 = await serve([]);
    const t2 = await s2.request('POST', '/fhir', { headers: JSON_CT, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    assert.equal(t2.status, 200, t2.text);
    const r2 = await s2.request('GET', '/fhir/Patient?_id=chain-0&_include:iterate=Patient:link');
    const inc2 = r2.json.entry.filter((e) => e.search && e.search.mode === 'include').map((e) => e.resource.id);
    assert.deepEqual(inc2.sort(), ['chain-1', 'chain-2', 'chain-3', 'chain-4']);
    const outcome = r2.json.entry.find((e) => e.search && e.search.mode === 'outcome');
    assert.ok(outcome && outcome.resource.issue.some((i) => i.code === 'too-costly' && /4 rounds/.test(i.diagnostics)), JSON.stringify(r2.json).slice(0, 800));
    // a chain short enough is followed to its end, without a warning
    const r3 = await s2.request('GET', '/fhir/Patient?_id=chain-3&_include:iterate=Patient:link');
    const inc3 = r3.json.entry.filter((e) => e.search && e.search.mode === 'include').map((e) => e.resource.id);
    assert.deepEqual(inc3.sort(), ['chain-4', 'chain-5', 'chain-6']);
    assert.ok(!r3.json.entry.some((e) => e.search && e.search.mode === 'outcome'));
  });
  it('_count over 1000 is lowered with a warning; chains deeper than 4 and 101 OR values are too-costly', async () => {
    const r = await s.request('GET', '/fhir/Patient?_count=5000');
    assert.equal(r.status, 200);
    const outcome = r.json.entry.find((e) => e.search && e.search.mode === 'outcome');
    assert.ok(outcome && outcome.resource.issue.some((i) => i.code === 'too-costly'), JSON.stringify(r.json).slice(0, 500));
    const strict = { headers: { prefer: 'handling=strict' } };
    assertOutcome(await s.request('GET', '/fhir/Observation?subject.link.link.link.link.name=x', strict), 400, 'too-costly');
    assertOutcome(await s.request('GET', `/fhir/Patient?name=${Array(101).fill('x').join(',')}`, strict), 400, 'too-costly');
  });
});
