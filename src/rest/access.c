/*
 * access.c - what the request's principal may see and do (policy.h grants),
 * applied by every interaction: a permission not granted at all is a 403;
 * a grant limited to a patient compartment or a scope query narrows the
 * search SQL, so that what lies outside answers as if it did not exist
 * (404, absent from every Bundle). With no principal (open mode) every
 * check passes.
 */
#include <string.h>

#include "../policy/policy.h"
#include "rest_int.h"

#define MAX_GRANTS 16

static int forbidden(rctx *c, const char *type, unsigned perm)
{
	rest_reply_error(c, 403, "forbidden", "The token's scopes do not allow %s of %s",
	                 policy_perm_name(perm), type ? type : "resources of every type");
	return -1;
}

/* The `?` placeholders of a WHERE clause (its binds come first in a search_sql). */
static size_t placeholders(const char *s)
{
	size_t n = 0;
	int quoted = 0;
	for (; *s; s++) {
		if (*s == '\'')
			quoted = !quoted;
		else if (*s == '?' && !quoted)
			n++;
	}
	return n;
}

/* The WHERE of one grant: its type (system level), compartment and query. */
static int grant_sql(rctx *c, const char *type, const policy_grant *g, search_sql *out)
{
	const char *t = type ? type : strcmp(g->type, "*") ? g->type : NULL;
	const char *keys[64], *vals[64];
	size_t n =
	        g->query ? rest__form_split(c->a, g->query, strlen(g->query), keys, vals, 64) : 0;
	search_query *q;
	diag_list d;
	diag_init(&d, c->a);
	if (search_parse(c->a, t, keys, vals, n, 1, &q, &d))
		return -1;
	if (g->patient)
		search_query_in_patient_compartment(q, g->patient);
	return search_compile(q, store_dialect(c->r->cfg.store), 0, c->a, out, &d);
}

int rest__allowed_or_reply(rctx *c, const char *type, unsigned perm)
{
	policy_grant g[MAX_GRANTS];
	if (c->who && !policy_grants(c->who, type, perm, g, MAX_GRANTS))
		return forbidden(c, type, perm);
	return 0;
}

int rest__limited(rctx *c, const char *type, unsigned perm)
{
	if (!c->who)
		return 0;
	policy_grant g[MAX_GRANTS];
	size_t n = policy_grants(c->who, type, perm, g, MAX_GRANTS);
	if (n > MAX_GRANTS)
		n = MAX_GRANTS;
	for (size_t i = 0; i < n; i++)
		if (!g[i].patient && !g[i].query && (type || !strcmp(g[i].type, "*")))
			return 0;
	return 1;
}

int rest__restrict_or_reply(rctx *c, const char *type, unsigned perm, search_sql *sql)
{
	if (!c->who)
		return 0;
	policy_grant g[MAX_GRANTS];
	size_t n = policy_grants(c->who, type, perm, g, MAX_GRANTS);
	if (!n)
		return forbidden(c, type, perm);
	if (!rest__limited(c, type, perm))
		return 0;
	if (n > MAX_GRANTS)
		n = MAX_GRANTS;
	/* WHERE (where) AND ((grant 1) OR (grant 2) ...); the binds in the same order */
	size_t nw = placeholders(sql->where);
	if (nw > sql->nbinds)
		nw = sql->nbinds;
	search_sql gs[MAX_GRANTS];
	size_t total = sql->nbinds, ok = 0;
	for (size_t i = 0; i < n; i++) {
		if (grant_sql(c, type, &g[i], &gs[ok]) == 0)
			total += gs[ok++].nbinds;
	}
	buf w;
	buf_init(&w, 0);
	buf_printf(&w, "(%s) AND (", sql->where);
	search_bind *binds = arena_alloc(c->a, (total + 1) * sizeof *binds);
	size_t k = 0;
	for (size_t i = 0; i < nw; i++)
		binds[k++] = sql->binds[i];
	for (size_t i = 0; i < ok; i++) {
		buf_printf(&w, "%s(%s)", i ? " OR " : "", gs[i].where);
		size_t gw = placeholders(gs[i].where);
		for (size_t j = 0; j < gw && j < gs[i].nbinds; j++)
			binds[k++] = gs[i].binds[j];
	}
	if (!ok)
		buf_puts(&w, "1 = 0"); /* no grant could be expressed: nothing is visible */
	buf_putc(&w, ')');
	for (size_t i = nw; i < sql->nbinds; i++)
		binds[k++] = sql->binds[i];
	sql->where = arena_strdup(c->a, w.data);
	buf_free(&w);
	sql->binds = binds;
	sql->nbinds = k;
	return 0;
}

int rest__visible(rctx *c, const char *type, unsigned perm, int64_t rid)
{
	if (!c->who || !rest__limited(c, type, perm))
		return 1;
	search_bind b = {.kind = SEARCH_BIND_INT, .i = rid};
	search_sql sql = {.where = "r.rid = ?", .order_by = "r.rid", .binds = &b, .nbinds = 1};
	policy_grant g[1];
	if (!policy_grants(c->who, type, perm, g, 1))
		return 0;
	/* the reply of the restriction is never sent: there is at least one grant */
	if (rest__restrict_or_reply(c, type, perm, &sql))
		return 0;
	int64_t n = 0;
	if (store_search_count(c->r->cfg.store, &sql, &n))
		return 0;
	return n > 0;
}

size_t rest__keep_visible(rctx *c, unsigned perm, store_version *v, size_t n)
{
	if (!c->who)
		return n;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		policy_grant g[1];
		if (!policy_grants(c->who, v[i].type, perm, g, 1))
			continue;
		/* a contained resource (deleted 2) has no row of its own to test:
		 * under limits it is left out */
		if (v[i].deleted == 2 ? rest__limited(c, v[i].type, perm)
		                      : !rest__visible(c, v[i].type, perm, v[i].rid))
			continue;
		v[k++] = v[i];
	}
	return k;
}

int rest__in_compartment(rctx *c, const char *type, const char *id, const search_rows *rows,
                         unsigned perm)
{
	if (!c->who || !rest__limited(c, type, perm))
		return 1;
	policy_grant g[MAX_GRANTS];
	size_t n = policy_grants(c->who, type, perm, g, MAX_GRANTS);
	if (n > MAX_GRANTS)
		n = MAX_GRANTS;
	for (size_t i = 0; i < n; i++) {
		if (g[i].query)
			continue; /* a query-limited scope does not grant writes */
		if (!g[i].patient)
			return 1;
		if (!strcmp(type, "Patient") && id && !strcmp(id, g[i].patient))
			return 1;
		for (size_t j = 0; rows && j < rows->npatients; j++)
			if (!strcmp(rows->patients[j], g[i].patient))
				return 1;
	}
	return 0;
}
