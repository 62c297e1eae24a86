/*
 * policy.c - SMART scopes (policy.h): parsing v1 and v2 forms and the
 * grants of one permission on one resource type.
 */
#include "policy.h"

#include <string.h>

#include "../model/model.h"

/* v2 permission letters must appear in c r u d s order, each once. */
static int v2_perms(const char *s, size_t n, unsigned *out)
{
	static const char order[] = "cruds";
	static const unsigned bit[] = {POLICY_CREATE, POLICY_READ, POLICY_UPDATE, POLICY_DELETE,
	                               POLICY_SEARCH};
	unsigned perms = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		while (k < 5 && order[k] != s[i])
			k++;
		if (k == 5)
			return -1;
		perms |= bit[k++];
	}
	*out = perms;
	return n ? 0 : -1;
}

static int perms_of(const char *s, size_t n, unsigned *out)
{
	if (n == 4 && !strncmp(s, "read", 4))
		*out = POLICY_READ | POLICY_SEARCH;
	else if (n == 5 && !strncmp(s, "write", 5))
		*out = POLICY_CREATE | POLICY_UPDATE | POLICY_DELETE;
	else if (n == 1 && *s == '*')
		*out = POLICY_ALL;
	else
		return v2_perms(s, n, out);
	return 0;
}

/* One scope token; 0 if it is a resource scope. */
static int parse_one(arena *a, const char *s, size_t n, policy_scope *out)
{
	const char *slash = memchr(s, '/', n);
	if (!slash)
		return -1;
	size_t cl = (size_t)(slash - s);
	if (cl == 7 && !strncmp(s, "patient", 7))
		out->context = 'p';
	else if (cl == 4 && !strncmp(s, "user", 4))
		out->context = 'u';
	else if (cl == 6 && !strncmp(s, "system", 6))
		out->context = 's';
	else
		return -1;
	const char *t = slash + 1, *end = s + n;
	const char *q = memchr(t, '?', (size_t)(end - t));
	const char *body_end = q ? q : end;
	const char *dot = memchr(t, '.', (size_t)(body_end - t));
	if (!dot || dot == t)
		return -1;
	char *type = arena_strndup(a, t, (size_t)(dot - t));
	if (strcmp(type, "*")) {
		const model_type *mt = model_type_get(type);
		if (!mt || !model_type_is_concrete_resource(mt))
			return -1;
	}
	if (perms_of(dot + 1, (size_t)(body_end - dot - 1), &out->perms))
		return -1;
	out->type = type;
	out->query = q && q + 1 < end ? arena_strndup(a, q + 1, (size_t)(end - q - 1)) : NULL;
	return 0;
}

void policy_parse_scopes(arena *a, const char *scope, policy_principal *p)
{
	p->scopes = NULL;
	p->nscopes = 0;
	if (!scope)
		return;
	size_t cap = 1;
	for (const char *s = scope; *s; s++)
		cap += *s == ' ';
	p->scopes = arena_calloc(a, cap * sizeof *p->scopes);
	const char *s = scope;
	while (*s) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (n && parse_one(a, s, n, &p->scopes[p->nscopes]) == 0)
			p->nscopes++;
		s += n;
	}
}

size_t policy_grants(const policy_principal *p, const char *type, unsigned perm, policy_grant *out,
                     size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nscopes; i++) {
		const policy_scope *sc = &p->scopes[i];
		if (!(sc->perms & perm))
			continue;
		if (type && strcmp(sc->type, "*") && strcmp(sc->type, type))
			continue;
		if (sc->context == 'p' && !p->patient)
			continue; /* a patient scope needs a patient context */
		if (n < max)
			out[n] = (policy_grant){sc->context == 'p' ? p->patient : NULL, sc->query,
			                        sc->type};
		n++;
	}
	return n;
}

int policy_unlimited(const policy_grant *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!g[i].patient && !g[i].query)
			return 1;
	return 0;
}

const char *policy_perm_name(unsigned perm)
{
	switch (perm) {
	case POLICY_CREATE: return "create (c)";
	case POLICY_READ: return "read (r)";
	case POLICY_UPDATE: return "update (u)";
	case POLICY_DELETE: return "delete (d)";
	case POLICY_SEARCH: return "search (s)";
	default: return "access";
	}
}
