/*
 * access.c - what the request's principal may see and do (policy.h grants),
 * applied by every interaction: a permission not granted at all is a 403;
 * a grant limited to a patient compartment or a scope query narrows the
 * search SQL, so that what lies outside answers as if it did not exist
 * (404, absent from every Bundle). With no principal (open mode) every
 * check passes.
 *
 * A principal subject to consent (another organisation, or a purpose other
 * than treatment; see rest__consent_applies) sees only its patient's
 * compartment, and of that only what the patient's Consent resources
 * (consent.h) permit for the type: a denial narrows the grant to nothing,
 * a decision that depends on security labels narrows it to the permitted
 * label combinations. Each decision is logged once per request and type.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../policy/consent.h"
#include "../policy/policy.h"
#include "rest_int.h"

#define MAX_GRANTS   16
#define MAX_CONSENTS 64 /* a patient's active consents considered */
#define MAX_MEMO     16 /* decisions kept per request */

/* One way a permission is granted, after consent: a scope's grant, possibly
 * narrowed to nothing or to one combination of security labels. */
typedef struct grant {
	policy_grant g;
	int none;                  /* consent denies: nothing is visible */
	const consent_decision *d; /* non-NULL: only label profile `profile` of d */
	unsigned profile;
} grant;

typedef struct memo {
	const char *type; /* NULL: across types */
	int write;
	consent_decision d;
} memo;

struct rest_consent {
	int loaded;
	json_t *docs; /* the patient's active consents, parsed (an array) */
	memo memo[MAX_MEMO];
	size_t nmemo;
};

/* Parsed consents by patient, shared by requests: a request still reads the
 * patient's consents, but parses them only when their versions changed.
 * The trees are never changed once cached; jansson's reference counts are
 * atomic. */
#define CONSENT_SLOTS 64

struct consent_cache {
	pthread_mutex_t mu;
	struct {
		uint64_t key; /* hash of the patient and of the versions' seqs */
		char *patient;
		json_t *docs;
	} slot[CONSENT_SLOTS];
};

consent_cache *rest__consent_cache_new(void)
{
	consent_cache *cc = base_calloc(1, sizeof *cc);
	pthread_mutex_init(&cc->mu, NULL);
	return cc;
}

void rest__consent_cache_free(consent_cache *cc)
{
	if (!cc)
		return;
	for (size_t i = 0; i < CONSENT_SLOTS; i++) {
		free(cc->slot[i].patient);
		json_decref(cc->slot[i].docs);
	}
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211u; /* FNV-1a */
	return h;
}

/* The parsed consents of `patient` whose bodies are v[0..n), from the cache
 * or parsed now (a new reference). */
static json_t *parsed_consents(rctx *c, const char *patient, const store_version *v, size_t n)
{
	consent_cache *cc = c->r->consents;
	uint64_t key = mix(1469598103934665603u, patient, strlen(patient) + 1);
	for (size_t i = 0; i < n; i++)
		key = mix(key, &v[i].seq, sizeof v[i].seq);
	size_t k = key % CONSENT_SLOTS;
	json_t *docs = NULL;
	pthread_mutex_lock(&cc->mu);
	if (cc->slot[k].docs && cc->slot[k].key == key && !strcmp(cc->slot[k].patient, patient))
		docs = json_incref(cc->slot[k].docs);
	pthread_mutex_unlock(&cc->mu);
	if (docs)
		return docs;
	docs = json_array();
	for (size_t i = 0; i < n; i++) {
		json_error_t e;
		json_t *j = json_loadb(v[i].body, v[i].body_len, 0, &e);
		if (j)
			json_array_append_new(docs, j);
	}
	pthread_mutex_lock(&cc->mu);
	json_decref(cc->slot[k].docs);
	free(cc->slot[k].patient);
	cc->slot[k].key = key;
	cc->slot[k].patient = base_strdup(patient);
	cc->slot[k].docs = json_incref(docs);
	pthread_mutex_unlock(&cc->mu);
	return docs;
}

static int is_code_in(const char *code, const char *list)
{
	size_t n = strlen(code);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, code, n))
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

static int breaks_glass(rctx *c)
{
	return c->who->purpose && is_code_in(c->who->purpose, c->r->cfg.break_glass);
}

int rest__consent_applies(rctx *c)
{
	if (!c->who)
		return 0;
	const char *p = c->who->purpose;
	int treatment = !p || !strcmp(p, "TREAT") || !strcmp(p, "ETREAT") || breaks_glass(c);
	const char *own = c->r->cfg.organization, *org = c->who->organization;
	int own_org = !org;
	if (org && own) {
		const char *bar = strchr(own, '|');
		own_org = bar ? consent_same_org(org, arena_strndup(c->a, own, (size_t)(bar - own)),
		                                 bar + 1)
		              : consent_same_org(org, NULL, own);
	}
	return !(own_org && treatment);
}

static void drop_json(void *j)
{
	json_decref(j);
}

/* The patient's active consents, read once per request (unrestricted: the
 * decision needs them whatever the principal may see). */
static void load_consents(rctx *c, rest_consent *rc)
{
	rc->loaded = 1;
	const char *keys[] = {"patient", "status"};
	const char *vals[] = {arena_printf(c->a, "Patient/%s", c->who->patient), "active"};
	diag_list d;
	diag_init(&d, c->a);
	search_query *q;
	search_sql sql;
	int more;
	store_version *v = NULL;
	size_t n = 0;
	if (search_parse(c->a, "Consent", keys, vals, 2, 1, &q, &d) ||
	    search_compile(q, store_dialect(c->r->cfg.store), 0, c->a, &sql, &d) ||
	    store_search(c->r->cfg.store, c->a, &sql, MAX_CONSENTS, 0, &v, &n, &more))
		n = 0;
	rc->docs = parsed_consents(c, c->who->patient, v, n);
	arena_defer(c->a, drop_json, rc->docs);
}

/* consent_ask.names_org: is the literal reference an organisation with
 * that identifier? */
static int names_org(void *ctx, const char *reference, const char *organization)
{
	rctx *c = ctx;
	const char *at = strstr(reference, "Organization/");
	if (!at || (at != reference && at[-1] != '/'))
		return 0;
	const char *id = at + strlen("Organization/");
	store_version v;
	if (store_read(c->r->cfg.store, c->a, "Organization", id, 0, &v) != STORE_OK)
		return 0;
	json_error_t e;
	json_t *o = json_loadb(v.body, v.body_len, 0, &e);
	int yes = 0;
	size_t i;
	json_t *ident;
	json_array_foreach(json_object_get(o, "identifier"), i, ident)
	{
		if (consent_same_org(organization,
		                     json_string_value(json_object_get(ident, "system")),
		                     json_string_value(json_object_get(ident, "value"))))
			yes = 1;
	}
	json_decref(o);
	return yes;
}

static void log_decision(rctx *c, const char *type, const consent_decision *d)
{
	size_t np = 1u << d->nlabels, permits = 0;
	for (size_t s = 0; s < np; s++)
		permits += d->permit[s];
	const char *by = d->by[0];
	fprintf(stderr, "bron: consent patient=%s org=%s purpose=%s type=%s decision=%s by=%s\n",
	        c->who->patient, c->who->organization ? c->who->organization : "-",
	        c->who->purpose ? c->who->purpose : "TREAT", type ? type : "*",
	        permits == np ? "permit"
	        : permits     ? "partial"
	                      : "deny",
	        by                          ? by
	        : c->r->cfg.consent_opt_out ? "default:opt-out"
	                                    : "default:opt-in");
}

/* The consent decision for perm on type, made once per request. */
static const consent_decision *decide(rctx *c, const char *type, unsigned perm)
{
	if (!c->consent)
		c->consent = arena_calloc(c->a, sizeof *c->consent);
	rest_consent *rc = c->consent;
	int write = (perm & (POLICY_CREATE | POLICY_UPDATE | POLICY_DELETE)) != 0;
	for (size_t i = 0; i < rc->nmemo; i++)
		if (rc->memo[i].write == write &&
		    (type ? rc->memo[i].type && !strcmp(rc->memo[i].type, type)
		          : !rc->memo[i].type))
			return &rc->memo[i].d;
	if (!rc->loaded)
		load_consents(c, rc);
	json_t *docs[MAX_CONSENTS];
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(rc->docs) && n < MAX_CONSENTS; i++)
		docs[n++] = json_array_get(rc->docs, i);
	memo *m = rc->nmemo < MAX_MEMO ? &rc->memo[rc->nmemo++] : arena_calloc(c->a, sizeof *m);
	m->type = type ? arena_strdup(c->a, type) : NULL;
	m->write = write;
	consent_ask ask = {.organization = c->who->organization,
	                   .purpose = c->who->purpose,
	                   .action = write ? "correct" : "access",
	                   .type = type,
	                   .now = base_now_us(),
	                   .names_org = names_org,
	                   .ctx = c};
	if (!ask.organization)
		ask.organization = c->r->cfg.organization;
	consent_decide(c->a, docs, n, &ask, c->r->cfg.consent_opt_out, &m->d);
	if (breaks_glass(c)) {
		const char *def = c->r->cfg.consent_opt_out ? "default:opt-out" : "default:opt-in";
		for (size_t s = 0; s < (1u << m->d.nlabels); s++) {
			if (m->d.permit[s])
				continue;
			m->d.permit[s] = 1;
			m->d.by[s] = arena_printf(c->a, "break-the-glass:%s",
			                          m->d.by[s] ? m->d.by[s] : def);
		}
	}
	log_decision(c, type, &m->d);
	if (!c->basis) /* the audit record names what decided (the first type asked) */
		c->basis = m->d.by[0]                  ? m->d.by[0]
		           : c->r->cfg.consent_opt_out ? "default:opt-out"
		                                       : "default:opt-in";
	return &m->d;
}

/* The grants of perm on type: the scopes', narrowed by consent. */
static size_t grants(rctx *c, const char *type, unsigned perm, grant *out, size_t max)
{
	policy_grant pg[MAX_GRANTS];
	size_t n = policy_grants(c->who, type, perm, pg, MAX_GRANTS);
	if (n > MAX_GRANTS)
		n = MAX_GRANTS;
	if (!n)
		return 0;
	size_t k = 0;
	if (!rest__consent_applies(c)) {
		for (size_t i = 0; i < n && k < max; i++)
			out[k++] = (grant){.g = pg[i]};
		return k;
	}
	if (!c->who->patient)
		return 0;
	const consent_decision *d = decide(c, type, perm);
	unsigned np = 1u << d->nlabels, permits = 0;
	for (unsigned s = 0; s < np; s++)
		permits += d->permit[s];
	for (size_t i = 0; i < n && k < max; i++) {
		pg[i].patient = c->who->patient; /* only the patient's compartment */
		if (!permits)
			out[k++] = (grant){.g = pg[i], .none = 1};
		else if (permits == np)
			out[k++] = (grant){.g = pg[i]};
		else /* one grant per permitted label profile; those beyond max stay hidden */
			for (unsigned s = 0; s < np && k < max; s++)
				if (d->permit[s])
					out[k++] = (grant){.g = pg[i], .d = d, .profile = s};
	}
	return k;
}

/* A token search value system|code, escaped per search.html#escaping. */
static const char *token_value(rctx *c, const consent_label *l)
{
	buf b;
	buf_init(&b, 0);
	const char *parts[] = {l->system ? l->system : "", l->code};
	for (int i = 0; i < 2; i++) {
		if (i)
			buf_putc(&b, '|');
		for (const char *p = parts[i]; *p; p++) {
			if (*p == ',' || *p == '|' || *p == '$' || *p == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *p);
		}
	}
	const char *out = arena_strdup(c->a, b.data ? b.data : "");
	buf_free(&b);
	return out;
}

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

/* The WHERE of one grant: its type (system level), compartment, query and
 * security labels. */
static int grant_sql(rctx *c, const char *type, const grant *gr, search_sql *out)
{
	if (gr->none) {
		*out = (search_sql){.where = "1 = 0"};
		return 0;
	}
	const policy_grant *g = &gr->g;
	const char *t = type ? type : strcmp(g->type, "*") ? g->type : NULL;
	const char *keys[64 + CONSENT_MAX_LABELS], *vals[64 + CONSENT_MAX_LABELS];
	size_t n =
	        g->query ? rest__form_split(c->a, g->query, strlen(g->query), keys, vals, 64) : 0;
	for (size_t i = 0; gr->d && i < gr->d->nlabels; i++) {
		keys[n] = gr->profile & (1u << i) ? "_security" : "_security:not";
		vals[n++] = token_value(c, &gr->d->labels[i]);
	}
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
	grant g[MAX_GRANTS];
	if (c->who && !grants(c, type, perm, g, MAX_GRANTS))
		return forbidden(c, type, perm);
	return 0;
}

int rest__limited(rctx *c, const char *type, unsigned perm)
{
	if (!c->who)
		return 0;
	grant g[MAX_GRANTS];
	size_t n = grants(c, type, perm, g, MAX_GRANTS);
	for (size_t i = 0; i < n; i++)
		if (!g[i].none && !g[i].d && !g[i].g.patient && !g[i].g.query &&
		    (type || !strcmp(g[i].g.type, "*")))
			return 0;
	return 1;
}

int rest__restrict_or_reply(rctx *c, const char *type, unsigned perm, search_sql *sql)
{
	if (!c->who)
		return 0;
	grant g[MAX_GRANTS];
	size_t n = grants(c, type, perm, g, MAX_GRANTS);
	if (!n)
		return forbidden(c, type, perm);
	if (!rest__limited(c, type, perm))
		return 0;
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
	grant g[MAX_GRANTS];
	if (!grants(c, type, perm, g, MAX_GRANTS))
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
		grant g[MAX_GRANTS];
		if (!grants(c, v[i].type, perm, g, MAX_GRANTS))
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
	grant g[MAX_GRANTS];
	size_t n = grants(c, type, perm, g, MAX_GRANTS);
	for (size_t i = 0; i < n; i++) {
		/* a query-limited scope, a consent that denies or depends on labels:
		 * no grant to write */
		if (g[i].g.query || g[i].none || g[i].d)
			continue;
		if (!g[i].g.patient)
			return 1;
		if (!strcmp(type, "Patient") && id && !strcmp(id, g[i].g.patient))
			return 1;
		for (size_t j = 0; rows && j < rows->npatients; j++)
			if (!strcmp(rows->patients[j], g[i].g.patient))
				return 1;
	}
	return 0;
}
