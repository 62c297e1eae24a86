// What the fuzz targets found (tests/fuzz/, docs/robustness.md), over
// HTTP against a real server: every answer with a JSON body is JSON, and an
// error carries an OperationOutcome, whatever bytes the client sent.
//  - a Host header that is no host name ("x\"y", a control character) went
//    verbatim into every fullUrl of a search Bundle: broken (or forged) JSON;
//    now a 400
//  - bytes that are no UTF-8 (a raw 0x93 in a URL path) were echoed into an
//    OperationOutcome's diagnostics: not JSON; now written as U+FFFD (or
//    refused before, where the HTTP layer checks URLs)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, rawExchange, rawStatuses } from './lib/server.mjs';
import { client, assertOutcomeBody } from './lib/fhir.mjs';

let srv;

before(async () => {
  srv = await startServer();
  await client(srv).create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } });
});
after(async () => { if (srv) await srv.stop(); });

/** One raw request (latin1 bytes) on its own connection: { status, body } of the answer. */
async function raw(head) {
  const text = await rawExchange(srv.port, Buffer.from(`${head}Authorization: Bearer ${srv.token}\r\nConnection: close\r\n\r\n`, 'latin1'));
  const [status] = rawStatuses(text);
  const at = text.indexOf('\r\n\r\n');
  assert.ok(status && at > 0, `no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
  const body = Buffer.from(text.slice(at + 4), 'latin1');
  return { status, body, text };
}

/** The body must be UTF-8 JSON (JSON.parse on a strict UTF-8 decode). */
function parseStrict(body, what) {
  let s;
  try { s = new TextDecoder('utf-8', { fatal: true }).decode(body); } catch { assert.fail(`${what}: the answer is not UTF-8`); }
  try { return JSON.parse(s); } catch { assert.fail(`${what}: the answer is not JSON: ${s.slice(0, 300)}`); }
}

describe('fuzz findings over HTTP', () => {
  it('a Host header that is no host name is a 400 OperationOutcome, never broken JSON', async () => {
    for (const host of ['x"y', 'a\\b', 'a b', 'x\x01y', 'h/p', 'user@h', 'h?q', 'h#f', '\x93']) {
      const { status, body } = await raw(`GET /fhir/Patient?_count=5 HTTP/1.1\r\nHost: ${host}\r\n`);
      if (status === 400 && !body.length) continue; // refused by the HTTP parser itself
      const what = `Host ${JSON.stringify(host)}`;
      assert.equal(status, 400, what);
      assertOutcomeBody(parseStrict(body, what), what);
    }
  });

  it('a good Host (name, port, IPv4, IPv6 literal) still names the server in fullUrl', async () => {
    for (const host of ['example.org', 'example.org:8443', '127.0.0.1:9', '[::1]:8080', 'my_host.local']) {
      const { status, body } = await raw(`GET /fhir/Patient?_count=1 HTTP/1.1\r\nHost: ${host}\r\n`);
      assert.equal(status, 200, host);
      const bundle = parseStrict(body, host);
      assert.ok(bundle.entry?.length, `${host}: a Patient is stored`);
      assert.ok(bundle.entry[0].fullUrl.startsWith(`http://${host}/fhir/Patient/`), `${host}: ${bundle.entry[0].fullUrl}`);
    }
  });

  it('bytes that are no UTF-8 in the URL path never make an answer that is not JSON', async () => {
    for (const p of ['/fhir/Patient/\x931x', '/fhir/Pat\xffient', '/fhir/Patient/a\xc3', '/fhir/Patient/\xed\xa0\x80']) {
      const { status, body } = await raw(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n`);
      const what = `GET ${JSON.stringify(p)}`;
      assert.ok(status >= 400 && status < 500, `${what}: ${status}`);
      if (!body.length) continue;
      assertOutcomeBody(parseStrict(body, what), what);
    }
  });
});
