/*
 * json.h - Bron's JSON layer: parsing into jansson trees with limits, and the
 * byte-level writers that produce what is stored and served. The canonical
 * writer works on the client's bytes, not on the parsed tree, so decimals
 * (1.50), key order and string escapes survive exactly; the tree is used to
 * check and index. Nothing here keeps state; all functions are thread-safe.
 */
#ifndef BRON_JSON_H
#define BRON_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "../base/base.h"

/* Parse `len` bytes as one JSON value, rejecting duplicate keys. On failure
 * returns -1 and adds a diagnostic (code "invalid") naming line and column.
 * On success *out is a new reference the caller must json_decref. */
int json_parse(const char *data, size_t len, json_t **out, diag_list *d);

/* Server-set metadata written into a resource's canonical form. */
typedef struct json_meta {
	const char *id;           /* the logical id */
	const char *version_id;   /* meta.versionId */
	const char *last_updated; /* meta.lastUpdated (FHIR instant) */
} json_meta;

/* Write the canonical stored form of a resource: the object in `src` (valid
 * JSON, already checked by json_parse) minified, with "resourceType" first,
 * then "id" and "meta" taken from `m` (meta.versionId/lastUpdated replaced,
 * other meta members kept in order), then every other member in the client's
 * order with its bytes unchanged apart from whitespace. Returns 0, or
 * BUF_TOOBIG if `out` would exceed its maximum, or -1 if src is not an object. */
int json_canonical(const char *src, size_t len, const json_meta *m, buf *out);

/* Copy the top-level object in `src`, minified, with only the members for
 * which keep(ctx, key, key_len) returns non-zero (key as written, without
 * quotes). 0, BUF_TOOBIG, or -1 if src is not an object. */
typedef int (*json_keep_fn)(void *ctx, const char *key, size_t key_len);
int json_filter_members(const char *src, size_t len, json_keep_fn keep, void *ctx, buf *out);

/* Byte spans inside valid JSON text, for working on the client's bytes:
 * the value of member `key` of the object spanning src[from..to) (returns
 * 0 and sets the value's [*vfrom, *vto), or -1 when absent), and the
 * elements of the array spanning src[from..to) (returns their count, and
 * fills at most `max` starts/ends). */
int json_member_span(const char *src, size_t from, size_t to, const char *key, size_t *vfrom,
                     size_t *vto);
size_t json_element_spans(const char *src, size_t from, size_t to, size_t *starts, size_t *ends,
                          size_t max);

/* Copy JSON text, replacing inside string literals every occurrence of a
 * text for which lookup() gives a replacement. lookup is asked about each
 * whole string value's content (references), with the name of the member it
 * is the value of (key, klen as written; NULL, 0 for an array element or a
 * run), and each "urn:uuid:"/"urn:oid:" run inside one (narrative links);
 * it returns the replacement or NULL. Member names are left as they are. */
typedef const char *(*json_lookup_fn)(void *ctx, const char *key, size_t klen, const char *s,
                                      size_t len);
int json_rewrite_strings(const char *src, size_t len, json_lookup_fn lookup, void *ctx, buf *out);

/* Minify any JSON text (whitespace outside strings removed). */
int json_minify(const char *src, size_t len, buf *out);

/* Re-indent JSON text for humans (_pretty=true): two spaces, one member per line. */
int json_pretty(const char *src, size_t len, buf *out);

/* Serialise a tree compactly, keys in insertion order, reals in the shortest
 * form that reads back to the same double (JSON Patch results). */
int json_dump(const json_t *v, buf *out);

/* Append `s` as a JSON string literal (with quotes and escapes). Bytes of
 * `s` that are not well-formed UTF-8 (client text echoed in a message) are
 * written as U+FFFD, so the literal is always valid JSON. */
int json_put_string(buf *out, const char *s);

#endif
