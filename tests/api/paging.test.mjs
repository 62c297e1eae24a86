// Search paging links (search.html#paging): first, previous, next and last
// walk the same result in both directions, for keyset (unsorted) and offset
// (_sort) pages; and conditional delete of several resources at once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request } from './lib/server.mjs';

const json = { 'Content-Type': 'application/fhir+json' };
let srv;

async function get(url) {
  const u = url.startsWith('http') ? new URL(url) : null;
  const r = await srv.request('GET', u ? u.pathname + u.search : url);
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const link = (b, rel) => (b.link.find((l) => l.relation === rel) || {}).url;
const ids = (b) => (b.entry || []).map((e) => e.resource.id);

describe('paging links', () => {
  const made = [];
  before(async () => {
    srv = await startServer();
    for (let i = 0; i < 11; i++) {
      const r = await srv.request('POST', '/fhir/Basic', { headers: json,
        body: JSON.stringify({ resourceType: 'Basic', code: { text: `pg${String(i).padStart(2, '0')}` } }) });
      assert.equal(r.status, 201);
      made.push(r.json.id);
    }
  });
  after(async () => { await srv.stop(); });

  for (const sorted of [false, true]) {
    it(`${sorted ? 'offset (_sort)' : 'keyset'} pages: next to the end, previous back, first and last`, async () => {
      const q = `/fhir/Basic?_count=4${sorted ? '&_sort=_id&_total=accurate' : ''}`; // offset pages know their last page from the total
      const first = await get(q);
      assert.ok(link(first, 'first'));
      assert.equal(link(first, 'previous'), undefined);
      const forward = [ids(first)];
      let page = first;
      while (link(page, 'next')) {
        page = await get(link(page, 'next'));
        forward.push(ids(page));
      }
      assert.equal(link(page, 'next'), undefined);
      const all = forward.flat();
      assert.equal(all.length, 11);
      assert.equal(new Set(all).size, 11);
      if (sorted) assert.deepEqual(all, [...all].sort());
      const backward = [ids(page)];
      while (link(page, 'previous')) {
        page = await get(link(page, 'previous'));
        backward.unshift(ids(page));
      }
      assert.deepEqual(backward.flat(), all);
      assert.deepEqual(ids(await get(link(first, 'first'))), forward[0]);
      const last = await get(link(first, 'last'));
      assert.deepEqual(ids(last), all.slice(-ids(last).length));
      assert.equal(link(last, 'next'), undefined);
    });
  }
});

describe('conditional delete of several resources', () => {
  before(async () => { srv = await startServer(); });
  after(async () => { await srv.stop(); });

  it('deletes every match in one go and leaves the rest', async () => {
    for (const t of ['del', 'del', 'del', 'keep']) {
      const r = await srv.request('POST', '/fhir/Basic', { headers: json,
        body: JSON.stringify({ resourceType: 'Basic', code: { text: t } }) });
      assert.equal(r.status, 201);
    }
    const r = await srv.request('DELETE', '/fhir/Basic?code:text=del');
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.issue[0].diagnostics, /Deleted 3/);
    assert.equal((await get('/fhir/Basic?code:text=del')).total, 0);
    assert.equal((await get('/fhir/Basic?code:text=keep')).total, 1);
  });
});
