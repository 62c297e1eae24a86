// The `bron serve` command line (issue 2, section 6): --help lists the flags,
// bad flags, config files, unusable ports or data dirs end with a message and
// a non-zero exit (no crash), and --config / --threads / --max-body take effect.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { BRON_BIN, startServer, assertCleanStderr, freePort, tempDir, storeArgs, PG_MODE, runBron } from './lib/server.mjs';
import { send, assertOutcome } from './lib/fhir.mjs';

const dirs = [];
function scratch() {
  const d = tempDir('cli-');
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

const run = runBron;

describe('bron serve command line', () => {
  it('--help lists --bind, --port, --data, --config, --threads, --max-body and exits 0', async () => {
    const r = await run(['serve', '--help']);
    assert.equal(r.code, 0, `exit ${r.code} ${r.stderr}`);
    const out = r.stdout + r.stderr;
    for (const flag of ['--bind', '--port', '--data', '--config', '--threads', '--max-body']) {
      assert.ok(out.includes(flag), `--help does not mention ${flag}:\n${out}`);
    }
    assertCleanStderr(r.stderr);
  });

  it('an unknown flag ends with a message and a non-zero exit', async () => {
    const r = await run(['serve', '--no-such-flag', '--port', String(await freePort())]);
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, `killed by ${r.signal}`);
    assert.ok(r.stderr.trim().length > 0, 'no message on stderr');
    assertCleanStderr(r.stderr);
  });

  it('a bad --port value ends with a message and a non-zero exit', async () => {
    for (const port of ['99999', 'abc', '-1']) {
      const r = await run(['serve', '--bind', '127.0.0.1', '--port', port, '--open', ...storeArgs(scratch())]);
      assert.notEqual(r.code, 0, `--port ${port} was accepted`);
      assert.equal(r.signal, null, `--port ${port}: killed by ${r.signal}`);
      assertCleanStderr(r.stderr);
    }
  });

  it('a port already in use ends with a message and a non-zero exit', async () => {
    const blocker = net.createServer();
    await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
    const { port } = blocker.address();
    try {
      const r = await run(['serve', '--bind', '127.0.0.1', '--port', String(port), '--open', ...storeArgs(scratch())]);
      assert.notEqual(r.code, 0);
      assert.equal(r.signal, null, `killed by ${r.signal}`);
      assert.ok(r.stderr.trim().length > 0, 'no message on stderr');
      assertCleanStderr(r.stderr);
    } finally {
      blocker.close();
    }
  });

  it('a data dir that cannot be created ends with a message and a non-zero exit', {
    skip: PG_MODE && 'about the SQLite data directory (--data); the PostgreSQL store has no directory',
  }, async () => {
    const file = path.join(scratch(), 'a-file');
    fs.writeFileSync(file, 'not a directory');
    const r = await run(['serve', '--bind', '127.0.0.1', '--port', String(await freePort()), '--open', '--data', path.join(file, 'sub')]);
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, `killed by ${r.signal}`);
    assert.ok(r.stderr.trim().length > 0, 'no message on stderr');
    assertCleanStderr(r.stderr);
  });

  it('--bind 127.0.0.1 listens on that address only', { timeout: 60000 }, async () => {
    const srv = await startServer();
    try {
      const other = await new Promise((resolve) => {
        const sock = net.connect(srv.port, '127.0.0.2');
        sock.on('connect', () => { sock.destroy(); resolve('connected'); });
        sock.on('error', (e) => resolve(e.code));
      });
      assert.equal(other, 'ECONNREFUSED', 'a server bound to 127.0.0.1 answered on 127.0.0.2');
    } finally {
      await srv.stop();
    }
  });

  it('--threads 1 still serves concurrent clients', { timeout: 120000 }, async () => {
    const srv = await startServer({ args: ['--threads', '1'] });
    try {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: `t${i}` } })));
      assert.deepEqual(results.map((r) => r.status), Array(12).fill(201));
      const reads = await Promise.all(results.map((r) => send(srv, 'GET', `/fhir/Basic/${r.json.id}`)));
      assert.deepEqual(reads.map((r) => r.status), Array(12).fill(200));
    } finally {
      await srv.stop();
    }
  });

  it('--config FILE is read (key = value lines), and flags after it override it', { timeout: 60000 }, async () => {
    const dir = scratch();
    const conf = path.join(dir, 'bron.conf');
    fs.writeFileSync(conf, 'max-body = 2048\nthreads = 2\n');
    const srv = await startServer({ args: ['--config', conf] });
    try {
      assert.equal((await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'x'.repeat(1900) } })).status, 201);
      assertOutcome(await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'x'.repeat(2100) } }), 413, 'max-body from the config file');
    } finally {
      await srv.stop();
    }
    const srv2 = await startServer({ args: ['--config', conf, '--max-body', '8192'] });
    try {
      assert.equal((await send(srv2, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'x'.repeat(4000) } })).status, 201, 'a flag after --config overrides the file');
    } finally {
      await srv2.stop();
    }
  });

  it('a missing or malformed --config file ends with a message and a non-zero exit', async () => {
    const dir = scratch();
    const bad = path.join(dir, 'bad.conf');
    fs.writeFileSync(bad, 'this is not a key value line\nmax-body = lots\n');
    for (const conf of [path.join(dir, 'missing.conf'), bad]) {
      const r = await run(['serve', '--config', conf, '--bind', '127.0.0.1', '--port', String(await freePort()), '--open', ...storeArgs(scratch())]);
      assert.notEqual(r.code, 0, `--config ${path.basename(conf)} was accepted`);
      assert.equal(r.signal, null, `killed by ${r.signal}`);
      assert.ok(r.stderr.trim().length > 0, 'no message on stderr');
      assertCleanStderr(r.stderr);
    }
  });

  it('--max-body sets the request body limit', { timeout: 60000 }, async () => {
    const srv = await startServer({ args: ['--max-body', '2048'] });
    try {
      const small = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'x'.repeat(1900) } });
      assert.equal(small.status, 201);
      const big = await send(srv, 'POST', '/fhir/Basic', { resourceType: 'Basic', code: { text: 'x'.repeat(2100) } });
      assertOutcome(big, 413);
    } finally {
      await srv.stop();
    }
  });
});
