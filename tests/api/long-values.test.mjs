// Values longer than an index row keeps (search.h SEARCH_MAX_VALUE, 1000
// bytes): a resource with a 5000-character name, identifier and URL is
// stored like any other (PostgreSQL's b-trees refuse entries over ~2700
// bytes, so index values are cut on write, on both engines alike), and
// searches with the whole value, a long prefix or a substring still find it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { send } from './lib/fhir.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) await srv.stop(); });

/** Random letters (no repetition a compressing index could hide), with a non-ASCII start. */
function longText(n) {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let s = 'é';
  for (let i = 0; i < n; i++) s += letters[Math.floor(Math.random() * letters.length)];
  return s;
}

async function count(query) {
  const r = await send(srv, 'GET', `/fhir/${query}&_summary=count`, undefined, {}, { timeout: 10000 });
  assert.equal(r.status, 200, `${query.slice(0, 80)}: ${r.status} ${r.text ? r.text.slice(0, 300) : ''}`);
  return r.json.total;
}

describe('values longer than an index row keeps', () => {
  const name = longText(5000);
  const value = longText(5000);
  const url = `http://example.org/${longText(4000)}`;
  let id;

  it('a resource with 5000-character values is stored (201) and read back whole', async () => {
    const w = await send(srv, 'POST', '/fhir/Patient', {
      resourceType: 'Patient',
      name: [{ family: name }],
      identifier: [{ system: 'urn:long', value }],
      telecom: [{ system: 'url', value: url }],
    });
    assert.equal(w.status, 201, `${w.status} ${w.text ? w.text.slice(0, 300) : ''}`);
    id = w.json.id;
    const r = await send(srv, 'GET', `/fhir/Patient/${id}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.name[0].family, name);
    assert.equal(r.json.identifier[0].value, value);
  });

  it('searches with the whole value, a long prefix, :exact and :contains find it', async () => {
    const e = encodeURIComponent;
    assert.equal(await count(`Patient?identifier=${e(`urn:long|${value}`)}`), 1);
    assert.equal(await count(`Patient?identifier=${e(value)}`), 1);
    assert.equal(await count(`Patient?family:exact=${e(name)}`), 1);
    assert.equal(await count(`Patient?family=${e(name.slice(0, 3000))}`), 1);
    assert.equal(await count(`Patient?family=${e(name.slice(0, 500))}`), 1);
    assert.equal(await count(`Patient?family:contains=${e(name.slice(200, 240))}`), 1);
    assert.equal(await count(`Patient?telecom=${e(url)}`), 1);
    // and a different long value does not match
    assert.equal(await count(`Patient?identifier=${e(`urn:long|${longText(5000)}`)}`), 0);
    assert.equal(await count(`Patient?family:exact=${e(longText(5000))}`), 0);
  });
});
