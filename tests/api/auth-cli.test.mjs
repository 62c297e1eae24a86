// `bron keygen` and `bron token` (issue 7, item 1), without a server: keygen
// writes a private key (0600) and a JWKS into a directory it makes (0700) and
// will not overwrite a key without --force; token prints a JWT whose header
// and claims are what the flags asked for, and whose signature Node's own
// crypto verifies with the JWKS key (ES256 in the JWS r||s form, RS256).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BRON_BIN, tempDir, runBron } from './lib/server.mjs';

const dirs = [];
function scratch() {
  const d = tempDir('auth-cli-');
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

const run = runBron;

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/** Split a compact JWS, check its shape, verify it with the JWKS; { header, claims }. */
function decodeAndVerify(token, jwks) {
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `not a compact JWS: ${token}`);
  const [h, p, s] = token.split('.');
  const header = b64json(h);
  const claims = b64json(p);
  const sig = Buffer.from(s, 'base64url');
  const jwk = header.kid ? jwks.keys.find((k) => k.kid === header.kid) : jwks.keys[0];
  assert.ok(jwk, `no key ${header.kid} in the JWKS`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const input = Buffer.from(`${h}.${p}`);
  if (header.alg === 'ES256') {
    assert.equal(sig.length, 64, 'ES256 signature is not r||s');
    assert.ok(crypto.verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig), 'bad ES256 signature');
  } else {
    assert.equal(header.alg, 'RS256');
    assert.ok(crypto.verify('sha256', input, key, sig), 'bad RS256 signature');
  }
  return { header, claims };
}

function readJwks(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'jwks.json'), 'utf8'));
}

describe('bron keygen', () => {
  it('writes a 0600 key and a JWKS into a new 0700 directory and says how to use them', async () => {
    const dir = path.join(scratch(), 'keys');
    const r = await run(['keygen', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dir, 'signing-key.pem')).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(path.join(dir, 'signing-key.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const jwks = readJwks(dir);
    assert.equal(jwks.keys.length, 1);
    const [k] = jwks.keys;
    assert.equal(k.kty, 'EC');
    assert.equal(k.crv, 'P-256');
    assert.equal(k.alg, 'ES256');
    assert.equal(k.use, 'sig');
    assert.equal(k.d, undefined, 'private part in the JWKS');
    assert.match(k.kid, /^[A-Za-z0-9_-]{43}$/, 'default kid is not a SHA-256 thumbprint');
    assert.ok(r.stdout.includes(`bron serve --jwks ${dir}/jwks.json`), r.stdout);
    assert.ok(r.stdout.includes('bron token --key'), r.stdout);
  });

  it('refuses to overwrite a key unless --force', async () => {
    const dir = scratch();
    assert.equal((await run(['keygen', '--dir', dir])).code, 0);
    const before = readJwks(dir).keys[0].kid;
    const again = await run(['keygen', '--dir', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /--force/);
    assert.equal(readJwks(dir).keys[0].kid, before, 'the key changed');
    const forced = await run(['keygen', '--dir', dir, '--force', '--alg', 'RS256', '--kid', 'k2']);
    assert.equal(forced.code, 0, forced.stderr);
    const [k] = readJwks(dir).keys;
    assert.equal(k.kty, 'RSA');
    assert.equal(k.alg, 'RS256');
    assert.equal(k.kid, 'k2');
    assert.equal(Buffer.from(k.n, 'base64url').length, 256, 'not RSA 2048');
  });

  it('answers usage errors with exit 2 and --help with exit 0', async () => {
    const dir = scratch();
    for (const args of [['--dir', dir, '--alg', 'HS256'], ['--dir', dir, '--bogus'], ['--dir'], ['--dir', dir, '--kid', '']]) {
      const r = await run(['keygen', ...args]);
      assert.equal(r.code, 2, `keygen ${args.join(' ')}: exit ${r.code}`);
      assert.ok(r.stderr.trim().length > 0);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'signing-key.pem')), 'a key was written');
    const h = await run(['keygen', '--help']);
    assert.equal(h.code, 0);
    for (const flag of ['--dir', '--alg', '--kid', '--force']) assert.ok(h.stdout.includes(flag), flag);
  });
});

describe('bron token', () => {
  it('mints an ES256 token with every claim, kid from the JWKS beside the key', async () => {
    const dir = scratch();
    assert.equal((await run(['keygen', '--dir', dir])).code, 0);
    const jwks = readJwks(dir);
    const before = Math.floor(Date.now() / 1000);
    const r = await run(['token', '--key', path.join(dir, 'signing-key.pem'), '--sub', 'dr-jansen',
      '--scope', 'patient/Observation.rs user/*.cruds', '--patient', 'p-1',
      '--org', 'http://fhir.nl/fhir/NamingSystem/ura|12345678', '--purpose', 'ETREAT',
      '--act', 'assistant-3', '--iss', 'https://idp.example', '--aud', 'https://bron.example/fhir',
      '--ttl', '120']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const { header, claims } = decodeAndVerify(r.stdout.trim(), jwks);
    assert.deepEqual(header, { alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid });
    assert.equal(claims.sub, 'dr-jansen');
    assert.equal(claims.scope, 'patient/Observation.rs user/*.cruds');
    assert.equal(claims.patient, 'p-1');
    assert.equal(claims.organization, 'http://fhir.nl/fhir/NamingSystem/ura|12345678');
    assert.equal(claims.purpose_of_use, 'ETREAT');
    assert.deepEqual(claims.act, { sub: 'assistant-3' });
    assert.equal(claims.iss, 'https://idp.example');
    assert.equal(claims.aud, 'https://bron.example/fhir');
    assert.ok(claims.iat >= before - 1 && claims.iat <= before + 5, `iat ${claims.iat}`);
    assert.equal(claims.nbf, claims.iat);
    assert.equal(claims.exp, claims.iat + 120);
    assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
  });

  it('defaults: iss and aud "bron", one hour, no optional claims; a fresh jti each time', async () => {
    const dir = scratch();
    assert.equal((await run(['keygen', '--dir', dir, '--alg', 'RS256', '--kid', 'rsa-1'])).code, 0);
    const jwks = readJwks(dir);
    const args = ['token', '--key', path.join(dir, 'signing-key.pem'), '--sub', 'svc', '--scope', 'system/*.read'];
    const a = decodeAndVerify((await run(args)).stdout.trim(), jwks);
    const b = decodeAndVerify((await run(args)).stdout.trim(), jwks);
    assert.deepEqual(a.header, { alg: 'RS256', typ: 'JWT', kid: 'rsa-1' });
    assert.equal(a.claims.iss, 'bron');
    assert.equal(a.claims.aud, 'bron');
    assert.equal(a.claims.exp - a.claims.iat, 3600);
    for (const c of ['patient', 'organization', 'purpose_of_use', 'act']) assert.equal(a.claims[c], undefined, c);
    assert.notEqual(a.claims.jti, b.claims.jti);
  });

  it('--kid overrides; a key without a JWKS beside it gets no kid', async () => {
    const dir = scratch();
    assert.equal((await run(['keygen', '--dir', dir])).code, 0);
    const jwks = readJwks(dir);
    const key = path.join(dir, 'signing-key.pem');
    const r = await run(['token', '--key', key, '--kid', 'other', '--sub', 's', '--scope', '']);
    assert.equal(r.code, 0, r.stderr);
    const [h] = r.stdout.trim().split('.');
    assert.equal(b64json(h).kid, 'other');
    const lone = path.join(scratch(), 'lone.pem');
    fs.copyFileSync(key, lone);
    const r2 = await run(['token', '--key', lone, '--sub', 's', '--scope', 'user/*.r']);
    assert.equal(r2.code, 0, r2.stderr);
    const { header } = decodeAndVerify(r2.stdout.trim(), jwks);
    assert.equal(header.kid, undefined);
  });

  it('usage errors exit 2, a missing key exits 1, --help exits 0', async () => {
    const dir = scratch();
    assert.equal((await run(['keygen', '--dir', dir])).code, 0);
    const key = path.join(dir, 'signing-key.pem');
    const bad = [
      ['--key', key, '--scope', 'x'], // no --sub
      ['--key', key, '--sub', 'x'], // no --scope
      ['--sub', 'x', '--scope', 'x'], // no --key
      ['--key', key, '--sub', 'x', '--scope', 'x', '--ttl', 'abc'],
      ['--key', key, '--sub', 'x', '--scope', 'x', '--ttl', '0'],
      ['--key', key, '--sub', 'x', '--scope', 'x', '--bogus'],
      ['--key', key, '--sub', 'x', '--scope'],
    ];
    for (const args of bad) {
      const r = await run(['token', ...args]);
      assert.equal(r.code, 2, `token ${args.join(' ')}: exit ${r.code}`);
      assert.ok(r.stderr.trim().length > 0);
      assert.equal(r.stdout, '');
    }
    const missing = await run(['token', '--key', path.join(dir, 'nope.pem'), '--sub', 'x', '--scope', 'x']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.pem/);
    assert.equal(missing.stdout, '');
    const h = await run(['token', '--help']);
    assert.equal(h.code, 0);
    for (const flag of ['--key', '--kid', '--sub', '--scope', '--patient', '--org', '--purpose', '--act', '--iss', '--aud', '--ttl']) {
      assert.ok(h.stdout.includes(flag), flag);
    }
  });
});
