// HTTPS and mutual TLS (issue 7, item 6). The test makes its own PKI with
// Debian's openssl in tests/api/.tmp/tls-*: a test CA, a server certificate
// for 127.0.0.1/localhost (subjectAltName), a client certificate of that CA,
// one of another CA and a self-signed one. It checks: HTTPS with the CA
// trusted (metadata, create and read), TLS 1.2 and 1.3 accepted and 1.1
// refused, plain HTTP on the HTTPS port gets no FHIR answer, the TLS keys in
// a --config file, mutual TLS (only the right client certificate gets an
// answer), and that bad certificate/key files stop `bron serve` at start with
// a message and exit 1. Plain HTTP without TLS options is the rest of the suite.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { BRON_BIN, startServer, assertCleanStderr, freePort, tempDir, storeArgs, removeStore, rawExchange, requestTls, runBron } from './lib/server.mjs';

let dir;
const pem = {}; // name -> PEM text
const file = (name) => path.join(dir, name);

function openssl(args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(name, cn) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function makeLeaf(name, subj, ca, ext) {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
  fs.writeFileSync(file(`${name}.ext`), `${ext.join('\n')}\n`);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

before(() => {
  dir = tempDir('tls-');
  makeCa('ca', 'Bron Test CA');
  makeCa('otherca', 'Other Test CA');
  makeLeaf('server', '/CN=localhost', 'ca',
    ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
  makeLeaf('client', '/C=NL/O=Zorg Test Org/CN=client app', 'ca', ['extendedKeyUsage=clientAuth']);
  makeLeaf('foreign', '/O=Foreign Org/CN=foreign app', 'otherca', ['extendedKeyUsage=clientAuth']);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'self.key', '-out', 'self.crt', '-days', '2', '-subj', '/O=Zorg Test Org/CN=self-signed']);
  for (const n of ['ca', 'server', 'client', 'foreign', 'self']) {
    pem[`${n}.crt`] = fs.readFileSync(file(`${n}.crt`), 'utf8');
    pem[`${n}.key`] = fs.readFileSync(file(`${n}.key`), 'utf8');
  }
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

const tlsArgs = () => ['--tls-cert', file('server.crt'), '--tls-key', file('server.key')];
const trustCa = () => ({ ca: pem['ca.crt'] });
const clientOf = (name) => ({ ca: pem['ca.crt'], cert: pem[`${name}.crt`], key: pem[`${name}.key`] });

/** A bare TLS handshake: resolves { ok: true, protocol } or { ok: false, error }. */
function handshake(port, options) {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ...options });
    const timer = setTimeout(() => { sock.destroy(); resolve({ ok: false, error: 'timeout' }); }, 10000);
    sock.on('secureConnect', () => {
      clearTimeout(timer);
      const protocol = sock.getProtocol();
      sock.end();
      resolve({ ok: true, protocol });
    });
    sock.on('error', (e) => { clearTimeout(timer); resolve({ ok: false, error: e.code || e.message }); });
  });
}

/** A request that must not get a FHIR answer: a failed handshake or connection, or (the second
 * guard) a 403 OperationOutcome; never a 200. Returns a short description of what happened. */
async function assertRefused(server, options, what) {
  let res;
  try {
    res = await requestTls(server.port, options, 'GET', '/fhir/metadata', { timeout: 10000 });
  } catch (e) {
    return `refused: ${e.code || e.message}`;
  }
  assert.equal(res.status, 403, `${what}: expected no answer or 403, got ${res.status} ${res.text.slice(0, 200)}`);
  assert.equal(res.json?.resourceType, 'OperationOutcome');
  return 'refused: 403';
}

const run = runBron;

describe('HTTPS', () => {
  let server;
  before(async () => { server = await startServer({ args: tlsArgs(), tls: trustCa() }); });
  after(async () => { await server?.stop(); });

  it('answers GET /fhir/metadata over HTTPS with the test CA trusted', async () => {
    const res = await server.request('GET', '/fhir/metadata');
    assert.equal(res.status, 200);
    assert.equal(res.json.resourceType, 'CapabilityStatement');
    assert.match(server.stderr(), /serving https:\/\//);
  });

  it('creates and reads a Patient over HTTPS', async () => {
    const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Versleuteld' }] });
    const created = await server.request('POST', '/fhir/Patient', {
      headers: { 'content-type': 'application/fhir+json' }, body,
    });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    assert.ok(id);
    const read = await server.request('GET', `/fhir/Patient/${id}`);
    assert.equal(read.status, 200);
    assert.equal(read.json.name[0].family, 'Versleuteld');
  });

  it('is not trusted without the test CA (the certificate is the test one)', async () => {
    await assert.rejects(requestTls(server.port, {}, 'GET', '/fhir/metadata', { timeout: 10000 }),
      (e) => /self.signed|unable to (get|verify)|UNABLE_TO/i.test(`${e.code} ${e.message}`));
  });

  it('accepts TLS 1.2 and TLS 1.3', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3']) {
      const r = await handshake(server.port, { ...trustCa(), minVersion: v, maxVersion: v });
      assert.ok(r.ok, `${v} handshake failed: ${r.error}`);
      assert.equal(r.protocol, v);
      const res = await requestTls(server.port, { ...trustCa(), minVersion: v, maxVersion: v }, 'GET', '/fhir/metadata');
      assert.equal(res.status, 200, `${v}: ${res.status}`);
    }
  });

  it('refuses a TLS 1.1 client at the handshake', async () => {
    const r = await handshake(server.port, {
      ...trustCa(), minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0',
    });
    assert.equal(r.ok, false, `TLS 1.1 was accepted (${r.protocol})`);
    // the client did offer TLS 1.1: the refusal is the server's, not a local one
    assert.notEqual(r.error, 'ERR_SSL_NO_PROTOCOLS_AVAILABLE');
    // and the server still serves afterwards
    assert.equal((await server.request('GET', '/fhir/metadata')).status, 200);
  });

  it('gives plain HTTP on the HTTPS port no FHIR answer', async () => {
    const text = await rawExchange(server.port, 'GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      { timeout: 5000 });
    assert.doesNotMatch(text, /HTTP\/1\.[01] 200/);
    assert.doesNotMatch(text, /resourceType/);
  });
});

describe('HTTPS from a --config file', () => {
  it('reads tls-cert and tls-key from the file', async () => {
    const cfg = file('bron.conf');
    fs.writeFileSync(cfg, `tls-cert = ${file('server.crt')}\ntls-key = ${file('server.key')}\n`);
    const server = await startServer({ args: ['--config', cfg], tls: trustCa() });
    try {
      assert.equal((await server.request('GET', '/fhir/metadata')).status, 200);
    } finally {
      await server.stop();
    }
  });
});

describe('mutual TLS', () => {
  let server;
  before(async () => {
    server = await startServer({
      args: [...tlsArgs(), '--tls-client-ca', file('ca.crt')], tls: clientOf('client'),
    });
  });
  after(async () => { await server?.stop(); });

  it('answers a client with a certificate of the configured CA (TLS 1.2 and 1.3)', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3']) {
      const res = await requestTls(server.port, { ...clientOf('client'), minVersion: v, maxVersion: v },
        'GET', '/fhir/metadata');
      assert.equal(res.status, 200, `${v}: ${res.status}`);
    }
    assert.match(server.stderr(), /client certificates required/);
  });

  it('refuses a client without a certificate', async () => {
    await assertRefused(server, trustCa(), 'no client certificate');
    // under TLS 1.2 the handshake itself fails
    await assert.rejects(requestTls(server.port, { ...trustCa(), maxVersion: 'TLSv1.2' }, 'GET', '/fhir/metadata',
      { timeout: 10000 }));
  });

  it('refuses a client certificate of another CA', async () => {
    await assertRefused(server, clientOf('foreign'), 'foreign CA');
    await assert.rejects(requestTls(server.port, { ...clientOf('foreign'), maxVersion: 'TLSv1.2' }, 'GET',
      '/fhir/metadata', { timeout: 10000 }));
  });

  it('refuses a self-signed client certificate', async () => {
    await assertRefused(server, clientOf('self'), 'self-signed');
    await assert.rejects(requestTls(server.port, { ...clientOf('self'), maxVersion: 'TLSv1.2' }, 'GET',
      '/fhir/metadata', { timeout: 10000 }));
  });

  it('refuses a write without a client certificate, and nothing is stored', async () => {
    const body = JSON.stringify({ resourceType: 'Patient', id: 'mtls-no-cert', name: [{ family: 'Nee' }] });
    let status = 'refused';
    try {
      const res = await requestTls(server.port, trustCa(), 'PUT', '/fhir/Patient/mtls-no-cert', {
        headers: { 'content-type': 'application/fhir+json' }, body, timeout: 10000,
      });
      status = res.status;
    } catch { /* the handshake failed */ }
    assert.ok(status === 'refused' || status === 403, `PUT without a client certificate got ${status}`);
    const read = await server.request('GET', '/fhir/Patient/mtls-no-cert');
    assert.equal(read.status, 404);
  });

  it('serves create and read to the right client', async () => {
    const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Wederzijds' }] });
    const created = await server.request('POST', '/fhir/Patient', {
      headers: { 'content-type': 'application/fhir+json' }, body,
    });
    assert.equal(created.status, 201, created.text);
    assert.equal((await server.request('GET', `/fhir/Patient/${created.json.id}`)).status, 200);
  });
});

describe('bad TLS files stop bron serve at start', () => {
  const cases = [
    ['a missing certificate file', () => ['--tls-cert', file('missing.crt'), '--tls-key', file('server.key')], /missing\.crt/],
    ['a key that does not match the certificate', () => ['--tls-cert', file('server.crt'), '--tls-key', file('client.key')], /do not match/],
    ['a certificate file of garbage', () => ['--tls-cert', file('garbage.pem'), '--tls-key', file('server.key')], /garbage\.pem/],
    ['a key file of garbage', () => ['--tls-cert', file('server.crt'), '--tls-key', file('garbage.pem')], /garbage\.pem/],
    ['an empty certificate file', () => ['--tls-cert', file('empty.pem'), '--tls-key', file('server.key')], /empty\.pem/],
    ['a certificate without a key', () => ['--tls-cert', file('server.crt')], /--tls-key/],
    ['a client CA file of garbage', () => [...tlsArgs(), '--tls-client-ca', file('garbage.pem')], /garbage\.pem/],
    ['a missing client CA file', () => [...tlsArgs(), '--tls-client-ca', file('missing-ca.crt')], /missing-ca\.crt/],
  ];
  before(() => {
    fs.writeFileSync(file('garbage.pem'),
      `-----BEGIN CERTIFICATE-----\n${Buffer.from('not a certificate at all').toString('base64')}x!\n-----END CERTIFICATE-----\n`);
    fs.writeFileSync(file('empty.pem'), '');
  });
  for (const [what, args, message] of cases) {
    it(`${what}: exit 1 with a message`, async () => {
      const data = tempDir('tls-data-');
      try {
        const r = await run(['serve', '--bind', '127.0.0.1', '--port', String(await freePort()), '--open', ...storeArgs(data), ...args()]);
        assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
        assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assertCleanStderr(r.stderr);
      } finally {
        removeStore(data);
      }
    });
  }

  it('--help lists the TLS options', async () => {
    const r = await run(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--tls-cert', '--tls-key', '--tls-client-ca']) {
      assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}`);
    }
  });
});
