/*
 * search.c - the search interaction (GET [type]?..., POST [type]/_search,
 * GET [base]?_type=..., GET Patient/[id]/[type]?...): parses the parameters
 * with the search subsystem, runs the compiled SQL through the store, adds
 * _include/_revinclude results and answers a Bundle of type "searchset" with
 * paging links. Entry bodies are the stored bytes unless _summary or
 * _elements asks for less.
 */
#include <stdio.h>
#include <string.h>

#include "../json/json.h"
#include "../model/model.h"
#include "rest_int.h"

#define MAX_INCLUDED       1000 /* resources added by _include/_revinclude per page */
#define MAX_INCLUDE_ROUNDS 4    /* rounds of _include:iterate (the first included) */

typedef struct params {
	const char **keys, **vals;
	size_t n, cap;
} params;

static void params_add(arena *a, params *p, const char *k, const char *v)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		const char **k2 = arena_alloc(a, cap * sizeof *k2),
		           **v2 = arena_alloc(a, cap * sizeof *v2);
		if (p->n) {
			memcpy(k2, p->keys, p->n * sizeof *k2);
			memcpy(v2, p->vals, p->n * sizeof *v2);
		}
		p->keys = k2;
		p->vals = v2;
		p->cap = cap;
	}
	p->keys[p->n] = k;
	p->vals[p->n] = v;
	p->n++;
}

/* Decode one application/x-www-form-urlencoded component; *bad is set when
 * it is not well-formed: a '%' without two hex digits, %00, not UTF-8. */
static char *form_decode(arena *a, const char *s, size_t n, int *bad)
{
	char *out = arena_alloc(a, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && base_hexval(s[i + 1]) >= 0 &&
		           base_hexval(s[i + 2]) >= 0 &&
		           (base_hexval(s[i + 1]) | base_hexval(s[i + 2]))) {
			out[k++] = (char)(base_hexval(s[i + 1]) * 16 + base_hexval(s[i + 2]));
			i += 2;
		} else {
			*bad |= s[i] == '%' || s[i] == 0;
			out[k++] = s[i];
		}
	}
	out[k] = 0;
	*bad |= !base_utf8_valid(out, k);
	return out;
}

/* Parse a form body (POST _search) into p; -1 if a part is not well-formed
 * (everything is parsed all the same). */
static int parse_form(arena *a, const char *body, size_t len, params *p)
{
	size_t i = 0;
	int bad = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && body[j] != '&')
			j++;
		if (j > i) {
			const char *eq = memchr(body + i, '=', j - i);
			size_t kl = eq ? (size_t)(eq - (body + i)) : j - i;
			const char *v =
			        eq ? form_decode(a, eq + 1, (size_t)(body + j - eq - 1), &bad) : "";
			params_add(a, p, form_decode(a, body + i, kl, &bad), v);
		}
		i = j + 1;
	}
	return bad ? -1 : 0;
}

size_t rest__form_split(arena *a, const char *s, size_t len, const char **keys, const char **vals,
                        size_t cap)
{
	params p = {0};
	(void)parse_form(a, s, len, &p); /* callers check the values they use */
	size_t n = p.n < cap ? p.n : cap;
	for (size_t i = 0; i < n; i++) {
		keys[i] = p.keys[i];
		vals[i] = p.vals[i];
	}
	return n;
}

/* References to this server may be given absolute: "<base>/Patient/1"
 * searches as "Patient/1" (in each comma-separated value). */
static const char *strip_base(rctx *c, const char *v)
{
	size_t bl = strlen(c->base);
	if (!strstr(v, c->base))
		return v;
	buf b;
	buf_init(&b, 0);
	const char *p = v;
	while (*p) {
		if (!strncmp(p, c->base, bl) && p[bl] == '/' &&
		    (p == v || p[-1] == ',' || p[-1] == '$'))
			p += bl + 1;
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
		buf_append(&b, p, n);
		p += n;
	}
	const char *out = arena_memdup(c->a, b.data ? b.data : "", b.len);
	buf_free(&b);
	return out;
}

/* _contained=true|both: contained resources are rows with deleted = 2 (see
 * store.h), so the compiled condition on the top-level resource widens from
 * "r.deleted = 0". Replies and returns -1 if it cannot. */
static int contained_or_reply(rctx *c, search_sql *sql)
{
	if (!c->contained_mode)
		return 0;
	const char *at = strstr(sql->where, "r.deleted = 0");
	if (!at || !c->type) {
		rest_reply_error(c, 400, "not-supported",
		                 "_contained needs a resource type and plain search parameters");
		return -1;
	}
	sql->where = arena_printf(c->a, "%.*s%s%s", (int)(at - sql->where), sql->where,
	                          c->contained_mode == 1 ? "r.deleted = 2" : "r.deleted IN (0, 2)",
	                          at + strlen("r.deleted = 0"));
	return 0;
}

/* Paging parameters are Bron's own and never reach the search parser. */
static int is_paging(const char *k)
{
	return !strcmp(k, "_page_after") || !strcmp(k, "_page_before") || !strcmp(k, "_offset") ||
	       !strcmp(k, "_format") || !strcmp(k, "_pretty");
}

typedef struct page {
	store_version *items;
	size_t n;
	int more;
	size_t offset;      /* sorted queries: OFFSET of this page */
	int64_t after_rid;  /* unsorted queries: keyset cursor of this page */
	int64_t before_rid; /* unsorted, paging backwards: rows below this rid (-1: the last page)
	                     */
	int sorted;
	size_t count; /* _count */
	int has_prev; /* rows come before this page */
	int has_next; /* rows come after it */
} page;

/* A link to this search: the parameters the server used (the canonical
 * query, so ignored ones are left out) and Bron's paging parameter. */
static void put_link(rctx *c, buf *b, const search_query *q, const char *relation,
                     const char *paging)
{
	buf url;
	buf_init(&url, 0);
	buf_puts(&url, c->base);
	if (c->compartment_id)
		buf_printf(&url, "/Patient/%s", c->compartment_id);
	if (c->everything)
		buf_puts(&url, "/$everything");
	else if (c->type)
		buf_printf(&url, "/%s", c->type);
	const char *canon = search_query_canonical(q);
	if (c->contained_mode)
		canon = arena_printf(c->a, "%s%s_contained=%s%s", canon, *canon ? "&" : "",
		                     c->contained_mode == 1 ? "true" : "both",
		                     c->contained_itself ? "&_containedType=contained" : "");
	if (*canon)
		buf_printf(&url, "?%s", canon);
	if (paging)
		buf_printf(&url, "%c%s", *canon ? '&' : '?', paging);
	buf_puts(b, "{\"relation\":");
	json_put_string(b, relation);
	buf_puts(b, ",\"url\":");
	json_put_string(b, url.data);
	buf_putc(b, '}');
	buf_free(&url);
}

typedef struct shape {
	const model_type *type;
	search_summary summary;
	const char *const *elements;
} shape;

/* json_keep_fn for _summary and _elements: which top-level members stay. */
static int keep_member(void *ctx, const char *key, size_t len)
{
	const shape *sh = ctx;
	char name[128];
	if (len && key[0] == '_') { /* a primitive's extensions follow the primitive */
		key++;
		len--;
	}
	if (len >= sizeof name)
		return 0;
	memcpy(name, key, len);
	name[len] = 0;
	if (!strcmp(name, "resourceType") || !strcmp(name, "id") || !strcmp(name, "meta"))
		return 1;
	model_prop p;
	int known = model_prop_find(sh->type, name, &p) == 0;
	switch (sh->summary) {
	case SEARCH_SUMMARY_DATA: return strcmp(name, "text") != 0;
	case SEARCH_SUMMARY_TEXT: return !strcmp(name, "text") || (known && p.min > 0);
	case SEARCH_SUMMARY_TRUE: return known && (p.is_summary || p.min > 0);
	default: break;
	}
	if (known && p.min > 0)
		return 1; /* mandatory elements stay, as the spec asks */
	for (const char *const *e = sh->elements; e && *e; e++) {
		size_t el = strlen(*e);
		/* "value" selects valueQuantity etc. of a choice element */
		if (!strcmp(*e, name) ||
		    (known && p.is_choice && !strncmp(name, *e, el) &&
		     el + 3 == strlen(p.element) && !strncmp(p.element, *e, el)))
			return 1;
	}
	return 0;
}

#define SUBSETTED                                                                                  \
	"{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ObservationValue\","               \
	"\"code\":\"SUBSETTED\"}"

/* Mark a subsetted resource (search.html#summary): add the SUBSETTED tag to
 * meta.tag of the filtered bytes in `in`, appending the result to b. */
static void put_subsetted(buf *b, const char *in, size_t len)
{
	size_t mf, mt, tf, tt;
	if (json_member_span(in, 0, len, "meta", &mf, &mt)) {
		buf_append(b, in, len);
		return;
	}
	if (json_member_span(in, mf, mt, "tag", &tf, &tt) == 0 && in[tf] == '[') {
		/* into the existing tag array, first */
		buf_append(b, in, tf + 1);
		buf_puts(b, SUBSETTED);
		if (in[tf + 1] != ']')
			buf_putc(b, ',');
		buf_append(b, in + tf + 1, len - tf - 1);
		return;
	}
	buf_append(b, in, mf + 1);
	buf_puts(b, "\"tag\":[" SUBSETTED "]");
	if (in[mf + 1] != '}')
		buf_putc(b, ',');
	buf_append(b, in + mf + 1, len - mf - 1);
}

/* The body of an entry as _summary/_elements ask. */
static void put_shaped(rctx *c, buf *b, const store_version *v, const search_query *q)
{
	shape sh = {.type = model_type_get(v->type),
	            .summary = search_query_summary(q),
	            .elements = search_query_elements(q)};
	buf f;
	buf_init(&f, 0);
	if ((sh.summary == SEARCH_SUMMARY_FALSE && !sh.elements) || !sh.type ||
	    json_filter_members(v->body, v->body_len, keep_member, &sh, &f))
		buf_append(b, v->body, v->body_len);
	else
		put_subsetted(b, f.data, f.len);
	buf_free(&f);
}

/* A contained resource found with _contained: its id is
 * "<ContainerType>/<containerId>#<cid>" and its body the container's. The
 * entry is the container, or with _containedType=contained the contained
 * resource itself. */
static void put_contained_entry(rctx *c, buf *b, const store_version *v)
{
	const char *hash = strchr(v->id, '#');
	size_t clen = hash ? (size_t)(hash - v->id) : strlen(v->id);
	if (!c->contained_itself || !hash) {
		buf_printf(b, "{\"fullUrl\":\"%s/%.*s\",\"resource\":", c->base, (int)clen, v->id);
		buf_append(b, v->body, v->body_len);
		buf_puts(b, ",\"search\":{\"mode\":\"match\"}}");
		return;
	}
	buf_printf(b, "{\"fullUrl\":\"%s/%s\",\"resource\":", c->base, v->id);
	size_t af, at, starts[256], ends[256], idf, idt;
	size_t n = json_member_span(v->body, 0, v->body_len, "contained", &af, &at)
	                   ? 0
	                   : json_element_spans(v->body, af, at, starts, ends, 256);
	int found = 0;
	for (size_t i = 0; i < n && i < 256 && !found; i++) {
		if (json_member_span(v->body, starts[i], ends[i], "id", &idf, &idt) == 0 &&
		    idt - idf == strlen(hash + 1) + 2 &&
		    !memcmp(v->body + idf + 1, hash + 1, idt - idf - 2)) {
			buf_append(b, v->body + starts[i], ends[i] - starts[i]);
			found = 1;
		}
	}
	if (!found)
		buf_puts(b, "null");
	buf_puts(b, ",\"search\":{\"mode\":\"match\"}}");
}

static void put_entry(rctx *c, buf *b, const store_version *v, const search_query *q,
                      const char *mode)
{
	if (v->deleted == 2)
		return put_contained_entry(c, b, v);
	rest__audit_saw(c, v);
	buf_printf(b, "{\"fullUrl\":\"%s/%s/%s\",\"resource\":", c->base, v->type, v->id);
	if (!strcmp(mode, "match"))
		put_shaped(c, b, v, q);
	else /* _summary and _elements shape the matches, not what they include */
		buf_append(b, v->body, v->body_len);
	buf_printf(b, ",\"search\":{\"mode\":\"%s\"}}", mode);
}

static void put_outcome_entry(buf *b, const diag_list *d)
{
	buf_puts(b, "{\"resource\":{\"resourceType\":\"OperationOutcome\",\"issue\":[");
	for (size_t i = 0; i < d->count; i++) {
		if (i)
			buf_putc(b, ',');
		buf_printf(b, "{\"severity\":\"%s\",\"code\":",
		           d->items[i].severity <= DIAG_ERROR ? "error" : "warning");
		json_put_string(b, d->items[i].code);
		buf_puts(b, ",\"diagnostics\":");
		json_put_string(b, d->items[i].message);
		buf_putc(b, '}');
	}
	buf_puts(b, "]},\"search\":{\"mode\":\"outcome\"}}");
}

/* Has this resource (type/id) been put in the Bundle already? */
static int seen(const store_version *list, size_t n, const store_version *v)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].rid == v->rid)
			return 1;
	return 0;
}

/* Run _include and _revinclude for the matches; appends to *inc. What the
 * limits (--max-include, MAX_INCLUDE_ROUNDS) left out is a warning in w. */
static int add_includes(rctx *c, const search_query *q, const page *pg, store_version **inc,
                        size_t *ninc, diag_list *w)
{
	const search_include *incs;
	size_t k = search_query_includes(q, &incs);
	if (!k || !pg->n)
		return 0;
	size_t cap = c->r->cfg.max_include ? c->r->cfg.max_include : MAX_INCLUDED;
	int cut = 0, iterates = 0;
	store_version *all = arena_alloc(c->a, cap * sizeof *all);
	size_t nall = 0;
	/* the rids the current round starts from: first the matches, then (for
	 * :iterate) what the previous round added */
	int64_t *from = arena_alloc(c->a, (pg->n + cap) * sizeof *from);
	size_t nfrom = 0;
	for (size_t i = 0; i < pg->n; i++)
		from[nfrom++] = pg->items[i].rid;
	int round;
	for (round = 0; round < MAX_INCLUDE_ROUNDS && nfrom; round++) {
		size_t round_start = nall;
		for (size_t i = 0; i < k; i++) {
			iterates |= incs[i].iterate;
			if (round > 0 && !incs[i].iterate)
				continue;
			search_sql sql;
			diag_list d;
			diag_init(&d, c->a);
			if (search_compile_include(&incs[i], from, nfrom,
			                           store_dialect(c->r->cfg.store), c->a, &sql, &d))
				continue;
			store_version *got;
			size_t n;
			int more;
			int rc = store_search(c->r->cfg.store, c->a, &sql, cap, 0, &got, &n, &more);
			if (rc)
				return rc;
			for (size_t j = 0; j < n; j++) {
				if (seen(pg->items, pg->n, &got[j]) || seen(all, nall, &got[j]))
					continue;
				if (nall == cap) {
					cut = 1;
					break;
				}
				all[nall++] = got[j];
			}
			if (more && nall == cap)
				cut = 1;
		}
		/* what the sender may not read is not included */
		nall = round_start +
		       rest__keep_visible(c, POLICY_READ, all + round_start, nall - round_start);
		nfrom = 0;
		for (size_t j = round_start; j < nall; j++)
			from[nfrom++] = all[j].rid;
	}
	if (cut)
		diag_add(w, DIAG_WARNING, "too-costly", "_include",
		         "_include and _revinclude added at most %zu resources to this page "
		         "(--max-include); more were left out: use a smaller _count",
		         cap);
	if (iterates && round == MAX_INCLUDE_ROUNDS && nfrom)
		diag_add(w, DIAG_WARNING, "too-costly", "_include",
		         "_include:iterate stopped after %d rounds; resources further on "
		         "were left out",
		         MAX_INCLUDE_ROUNDS);
	*inc = all;
	*ninc = nall;
	return 0;
}

static int same_container_before(const rctx *c, const page *pg, size_t i)
{
	if (pg->items[i].deleted != 2 || c->contained_itself)
		return 0;
	for (size_t j = 0; j < i; j++)
		if (pg->items[j].seq == pg->items[i].seq)
			return 1;
	return 0;
}

static void reply_bundle(rctx *c, const search_query *q, const page *pg, int64_t total,
                         const store_version *inc, size_t ninc, const diag_list *warnings)
{
	buf b;
	buf_init(&b, 0);
	rest__bundle_open(c, &b, "searchset");
	if (total >= 0)
		buf_printf(&b, ",\"total\":%lld", (long long)total);
	buf_puts(&b, ",\"link\":[");
	char paging[64];
	/* self: this page as it was asked for */
	if (pg->sorted)
		snprintf(paging, sizeof paging, "_offset=%zu", pg->offset);
	else if (pg->before_rid)
		snprintf(paging, sizeof paging, "_page_before=%lld", (long long)pg->before_rid);
	else
		snprintf(paging, sizeof paging, "_page_after=%lld", (long long)pg->after_rid);
	int at_start = pg->sorted ? !pg->offset : !pg->after_rid && !pg->before_rid;
	put_link(c, &b, q, "self", at_start ? NULL : paging);
	buf_putc(&b, ',');
	put_link(c, &b, q, "first", NULL);
	if (pg->has_prev && pg->n) {
		if (pg->sorted)
			snprintf(paging, sizeof paging, "_offset=%zu",
			         pg->offset > pg->count ? pg->offset - pg->count : 0);
		else
			snprintf(paging, sizeof paging, "_page_before=%lld",
			         (long long)pg->items[0].rid);
		buf_putc(&b, ',');
		put_link(c, &b, q, "previous", paging);
	}
	if (pg->has_next && pg->n) {
		if (pg->sorted)
			snprintf(paging, sizeof paging, "_offset=%zu", pg->offset + pg->n);
		else
			snprintf(paging, sizeof paging, "_page_after=%lld",
			         (long long)pg->items[pg->n - 1].rid);
		buf_putc(&b, ',');
		put_link(c, &b, q, "next", paging);
	}
	if (pg->has_next && pg->n && (!pg->sorted || total >= 0)) {
		/* the last page: counted back from the end */
		if (pg->sorted) {
			size_t last = total > 0 ? (size_t)(total - 1) / pg->count * pg->count : 0;
			snprintf(paging, sizeof paging, "_offset=%zu", last);
		} else {
			snprintf(paging, sizeof paging, "_page_before=-1");
		}
		buf_putc(&b, ',');
		put_link(c, &b, q, "last", paging);
	}
	buf_putc(&b, ']');
	size_t k = 0;
	if (search_query_summary(q) != SEARCH_SUMMARY_COUNT) {
		for (size_t i = 0; i < pg->n; i++) {
			if (same_container_before(c, pg, i))
				continue; /* a container once, however many of its contained match
				           */
			buf_puts(&b, k++ ? "," : ",\"entry\":[");
			put_entry(c, &b, &pg->items[i], q, "match");
		}
		for (size_t i = 0; i < ninc; i++, k++) {
			buf_puts(&b, k ? "," : ",\"entry\":[");
			put_entry(c, &b, &inc[i], q, "include");
		}
	}
	if (warnings->count) {
		buf_puts(&b, k ? "," : ",\"entry\":[");
		put_outcome_entry(&b, warnings);
		k++;
	}
	buf_puts(&b, k ? "]}" : "}");
	const char *body = arena_memdup(c->a, b.data, b.len);
	size_t len = b.len;
	buf_free(&b);
	rest_reply_json(c, 200, body, len);
}

/* Collect the search parameters: the URL's, plus a form body for _search. */
static int collect_params_or_reply(rctx *c, params *p)
{
	const char *const *keys, *const *vals;
	size_t n = rest_queries(c, &keys, &vals);
	for (size_t i = 0; i < n; i++)
		params_add(c->a, p, keys[i], vals[i]);
	if (!strcmp(c->method, "POST")) {
		const char *ct = rest_header(c, "Content-Type");
		size_t len;
		const char *body = rest_body(c, &len);
		if (len && (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))) {
			rest_reply_error(
			        c, 415, "not-supported",
			        "POST _search takes application/x-www-form-urlencoded parameters");
			return -1;
		}
		if (parse_form(c->a, body, len, p)) {
			rest_reply_error(c, 400, "invalid",
			                 "The form body is not well-formed: a '%%' that is not "
			                 "followed by two hex digits, an encoded NUL (%%00), or "
			                 "bytes that are not UTF-8");
			return -1;
		}
	}
	return 0;
}

void rest_search(rctx *c)
{
	params p = {0};
	if (collect_params_or_reply(c, &p))
		return;
	/* the query as the audit record keeps it (a form body's too) */
	buf qt;
	buf_init(&qt, 0);
	for (size_t i = 0; i < p.n; i++)
		buf_printf(&qt, "%s%s=%s", i ? "&" : "", p.keys[i], p.vals[i]);
	c->query_text = qt.len ? arena_strndup(c->a, qt.data, qt.len) : NULL;
	buf_free(&qt);
	/* what the search parser sees: everything but Bron's paging parameters */
	params sp = {0};
	size_t offset = 0;
	int64_t after = 0, before = 0;
	for (size_t i = 0; i < p.n; i++) {
		long v;
		if (c->everything && !strcmp(p.keys[i], "_since")) {
			/* $everything's _since: resources changed since then */
			params_add(c->a, &sp, "_lastUpdated",
			           arena_printf(c->a, "ge%s", p.vals[i]));
		} else if (c->everything &&
		           (!strcmp(p.keys[i], "start") || !strcmp(p.keys[i], "end"))) {
			return rest_reply_error(
			        c, 400, "not-supported",
			        "$everything does not support '%s' (care dates) yet", p.keys[i]);
		} else if (!strcmp(p.keys[i], "_offset") || !strcmp(p.keys[i], "_page_after") ||
		           !strcmp(p.keys[i], "_page_before")) {
			int backwards = !strcmp(p.keys[i], "_page_before");
			if (base_parse_long(p.vals[i], backwards ? -1 : 0, 0x7fffffffffffffffL,
			                    &v) ||
			    (backwards && v == 0))
				return rest_reply_error(
				        c, 400, "invalid", "%s must be a positive number%s",
				        p.keys[i], backwards ? " (or -1 for the last page)" : "");
			if (p.keys[i][1] == 'o')
				offset = (size_t)v;
			else if (backwards)
				before = v;
			else
				after = v;
		} else if (!strcmp(p.keys[i], "_contained") ||
		           !strcmp(p.keys[i], "_containedType")) {
			int is_type = p.keys[i][10] == 'T';
			const char *val = p.vals[i];
			if (!is_type &&
			    (!strcmp(val, "true") || !strcmp(val, "both") || !strcmp(val, "false")))
				c->contained_mode = val[0] == 't' ? 1 : val[0] == 'b' ? 2 : 0;
			else if (is_type &&
			         (!strcmp(val, "container") || !strcmp(val, "contained")))
				c->contained_itself = val[7] == 'e';
			else
				return rest_reply_error(c, 400, "invalid", "%s cannot be '%s'",
				                        p.keys[i], val);
		} else if (!is_paging(p.keys[i])) {
			const char *k = p.keys[i], *val = strip_base(c, p.vals[i]);
			if (rest__expand_terminology_or_reply(c, &k, &val))
				return;
			params_add(c->a, &sp, k, val);
		}
	}
	diag_list d;
	diag_init(&d, c->a);
	search_query *q;
	int strict = !c->lenient && c->strict;
	if (search_parse(c->a, c->type, sp.keys, sp.vals, sp.n, strict, &q, &d))
		return rest_reply_diags(c, 400, &d);
	if (c->compartment_id)
		search_query_in_patient_compartment(q, c->compartment_id);
	if (before && after)
		return rest_reply_error(c, 400, "invalid",
		                        "_page_before and _page_after exclude each other");
	page pg = {.offset = offset, .after_rid = after, .before_rid = before};
	search_sql sql;
	diag_list cd;
	diag_init(&cd, c->a);
	if (search_compile(q, store_dialect(c->r->cfg.store), after, c->a, &sql, &cd))
		return rest_reply_diags(c, 400, &cd);
	/* what the sender may search: the types a chain or _has looks into, and
	 * the limits of the grant on the searched type(s) */
	const char *joined[32];
	size_t nj = search_query_joined_types(q, joined, 32);
	for (size_t i = 0; i < nj && i < 32; i++) {
		if (rest__allowed_or_reply(c, joined[i], POLICY_SEARCH))
			return;
		/* a joined resource is not checked against the limits of a grant
		 * (a resource inside the compartment may refer to one outside):
		 * under such limits, no joins */
		if (rest__limited(c, joined[i], POLICY_SEARCH))
			return rest_reply_error(c, 403, "forbidden",
			                        "Chained and _has parameters into %s are not "
			                        "available within the token's limits (a patient "
			                        "compartment or a query)",
			                        joined[i]);
	}
	if (nj > 32)
		return rest_reply_error(c, 400, "too-costly", "The search joins too many types");
	if (rest__restrict_or_reply(c, c->type, POLICY_SEARCH, &sql))
		return;
	if (contained_or_reply(c, &sql))
		return;
	pg.sorted = strcmp(sql.order_by ? sql.order_by : "r.rid", "r.rid") != 0;
	size_t count = search_query_count(q);
	pg.count = count ? count : 1;
	int64_t total = -1;
	if (before && pg.sorted)
		return rest_reply_error(c, 400, "invalid",
		                        "_page_before pages unsorted searches only");
	if (before) {
		/* backwards: the `count` rows just below the cursor (or the end),
		 * fetched in descending rid order and turned round */
		search_bind *binds = arena_alloc(c->a, (sql.nbinds + 1) * sizeof *binds);
		if (sql.nbinds)
			memcpy(binds, sql.binds, sql.nbinds * sizeof *binds);
		if (before > 0) {
			binds[sql.nbinds++] = (search_bind){.kind = SEARCH_BIND_INT, .i = before};
			sql.where = arena_printf(c->a, "%s AND r.rid < ?", sql.where);
		}
		sql.binds = binds;
		sql.order_by = "r.rid DESC";
	}
	if (search_query_summary(q) != SEARCH_SUMMARY_COUNT) {
		int rc = store_search(c->r->cfg.store, c->a, &sql, count, pg.sorted ? offset : 0,
		                      &pg.items, &pg.n, &pg.more);
		if (rc)
			return rest_reply_read_failure(c, rc, "The search could not be run");
	}
	if (before) {
		for (size_t i = 0; i < pg.n / 2; i++) {
			store_version t = pg.items[i];
			pg.items[i] = pg.items[pg.n - 1 - i];
			pg.items[pg.n - 1 - i] = t;
		}
		pg.has_prev = pg.more;
		pg.has_next = before > 0;
	} else {
		pg.has_prev = pg.sorted ? offset > 0 : after > 0;
		pg.has_next = pg.more;
	}
	search_total tm = search_query_total(q);
	if (tm != SEARCH_TOTAL_NONE || search_query_summary(q) == SEARCH_SUMMARY_COUNT) {
		/* the total counts every match, not those after this page's cursor */
		search_sql all = sql;
		if ((after || before) &&
		    search_compile(q, store_dialect(c->r->cfg.store), 0, c->a, &all, &cd))
			return rest_reply_diags(c, 400, &cd);
		if ((after || before) && rest__restrict_or_reply(c, c->type, POLICY_SEARCH, &all))
			return;
		int rc = store_search_count(c->r->cfg.store, &all, &total);
		if (rc)
			return rest_reply_read_failure(c, rc, "The search could not be counted");
	} else if (!pg.more && !offset && !after && !before) {
		total = (int64_t)pg.n; /* the whole result is on this page */
	}
	store_version *inc = NULL;
	size_t ninc = 0;
	int irc = add_includes(c, q, &pg, &inc, &ninc, &d);
	if (irc)
		return rest_reply_read_failure(c, irc, "The includes could not be read");
	reply_bundle(c, q, &pg, total, inc, ninc, &d);
}

void rest_everything(rctx *c)
{
	store_version v;
	if (rest__allowed_or_reply(c, "Patient", POLICY_READ))
		return;
	int rc = store_read(c->r->cfg.store, c->a, "Patient", c->id, 0, &v);
	if (rc == STORE_OK && !rest__visible(c, "Patient", POLICY_READ, v.rid))
		rc = STORE_NOT_FOUND;
	if (rc == STORE_NOT_FOUND)
		return rest_reply_error(c, 404, "not-found", "Patient/%s is not known", c->id);
	if (rc == STORE_GONE)
		return rest_reply_error(c, 410, "deleted", "Patient/%s was deleted", c->id);
	if (rc)
		return rest_reply_read_failure(c, rc, "The store could not be read");
	/* the Patient and everything in its compartment, as a paged searchset */
	c->compartment_id = c->id;
	c->type = NULL;
	c->id = NULL;
	c->everything = 1;
	rest_search(c);
}

int rest__condition_or_reply(rctx *c, const char *query, search_sql *out)
{
	params p = {0};
	if (query) {
		const char *q = strchr(query, '?');
		q = q ? q + 1 : query;
		if (parse_form(c->a, q, strlen(q), &p)) {
			rest_reply_error(c, 400, "invalid",
			                 "The condition '%s' is not well-formed (percent encoding, "
			                 "NUL, UTF-8)",
			                 query);
			return -1;
		}
	} else {
		const char *const *keys, *const *vals;
		size_t n = rest_queries(c, &keys, &vals);
		for (size_t i = 0; i < n; i++)
			if (!is_paging(keys[i]))
				params_add(c->a, &p, keys[i], vals[i]);
	}
	if (!p.n) {
		rest_reply_error(c, 400, "invalid", "A conditional %s needs search parameters",
		                 query                       ? "create"
		                 : !strcmp(c->method, "PUT") ? "update"
		                                             : "delete");
		return -1;
	}
	diag_list d;
	diag_init(&d, c->a);
	search_query *q;
	/* a condition is always strict: ignoring a parameter would widen the match */
	if (search_parse(c->a, c->type, p.keys, p.vals, p.n, 1, &q, &d) ||
	    search_compile(q, store_dialect(c->r->cfg.store), 0, c->a, out, &d)) {
		rest_reply_diags(c, 400, &d);
		return -1;
	}
	/* a condition is a search: it sees only what the sender may search */
	return rest__restrict_or_reply(c, c->type, POLICY_SEARCH, out);
}
