// Helpers for the search, conditional and Bundle API tests: searchset
// Bundle checks and id extraction.
import assert from 'node:assert/strict';

/** Entries of a searchset Bundle with search.mode (default 'match'). */
export function entriesOf(bundle, mode = 'match') {
  return (bundle.entry || []).filter((e) => (e.search && e.search.mode) === mode);
}

/** Sorted ids of the entries with the given search mode. */
export function idsOf(bundle, mode = 'match') {
  return entriesOf(bundle, mode).map((e) => e.resource.id).sort();
}

/** "Type/id" of the entries with the given mode, sorted. */
export function refsOf(bundle, mode = 'match') {
  return entriesOf(bundle, mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
}

/** The OperationOutcome entries (search.mode outcome). */
export function outcomesOf(bundle) {
  return entriesOf(bundle, 'outcome').map((e) => e.resource);
}

/**
 * Basic searchset shape: Bundle, type searchset, every entry has a
 * search.mode, and match/include entries a fullUrl `${base}/${type}/${id}`.
 */
export function assertSearchset(bundle, base) {
  assert.equal(bundle.resourceType, 'Bundle', `not a Bundle: ${JSON.stringify(bundle).slice(0, 300)}`);
  assert.equal(bundle.type, 'searchset');
  const self = (bundle.link || []).find((l) => l.relation === 'self');
  assert.ok(self && typeof self.url === 'string' && self.url.length > 0, 'a searchset needs a self link');
  for (const e of bundle.entry || []) {
    assert.ok(e.resource, 'entry without resource');
    assert.ok(e.search && ['match', 'include', 'outcome'].includes(e.search.mode),
      `entry search.mode must be match/include/outcome: ${JSON.stringify(e.search)}`);
    if (e.search.mode === 'outcome') {
      assert.equal(e.resource.resourceType, 'OperationOutcome', 'an outcome entry holds an OperationOutcome');
    } else if (base) {
      assert.equal(e.fullUrl, `${base}/${e.resource.resourceType}/${e.resource.id}`, 'fullUrl is the resource URL');
    }
  }
}

/** Sorted copy. */
export const sorted = (a) => [...a].sort();
