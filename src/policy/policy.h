/*
 * policy.h - who may do what: SMART on FHIR scopes (v1 and v2 syntax) of a
 * verified token, turned into grants the REST layer enforces on every path.
 *
 * A scope is context/type.permissions[?query]:
 *   context      patient/ (only within the token's patient compartment),
 *                user/ or system/ (no compartment limit)
 *   type         a resource type or *
 *   permissions  v1: read (= rs), write (= cud), * (= cruds);
 *                v2: any of c r u d s, in that order ("rs", "cruds")
 *   ?query       v2: only resources matching these search parameters
 * Other scopes (openid, fhirUser, launch, offline_access, ...) grant nothing
 * here. A permission is granted if any scope grants it; each granting scope
 * may restrict it to the patient compartment and/or a query, and the
 * resources allowed are those any granting scope allows.
 */
#ifndef BRON_POLICY_H
#define BRON_POLICY_H

#include <stddef.h>

#include "../base/base.h"

enum {
	POLICY_CREATE = 1,
	POLICY_READ = 2,
	POLICY_UPDATE = 4,
	POLICY_DELETE = 8,
	POLICY_SEARCH = 16,
	POLICY_ALL = 31
};

typedef struct policy_scope {
	char context;      /* 'p' patient, 'u' user, 's' system */
	const char *type;  /* a resource type, or "*" */
	unsigned perms;    /* POLICY_* bits */
	const char *query; /* v2 query filter ("category=laboratory"), or NULL */
} policy_scope;

/* Who asks: from a verified token. Strings are arena-owned or borrowed. */
typedef struct policy_principal {
	const char *sub;
	const char *patient;      /* patient context, or NULL */
	const char *organization; /* requesting organisation, or NULL */
	const char *purpose;      /* purpose of use, or NULL */
	const char *actor;        /* on whose behalf, or NULL */
	policy_scope *scopes;
	size_t nscopes;
} policy_principal;

/* Parse a space-separated scope string into p->scopes (arena-owned).
 * Scopes that are not resource scopes, or malformed ones, are skipped. */
void policy_parse_scopes(arena *a, const char *scope, policy_principal *p);

/* One way a permission is granted: restricted to the compartment of
 * `patient` (NULL: no compartment limit) and to resources matching `query`
 * (NULL: none). Both NULL: the permission is granted without limit. */
typedef struct policy_grant {
	const char *patient;
	const char *query;
	const char *type; /* the scope's type ("*" for every type) */
} policy_grant;

/* The grants of `perm` (one POLICY_* bit) on resources of `type` (NULL: any
 * type, for system-level searches: every scope granting perm). Up to `max`
 * into out; returns how many there are. 0: not allowed at all. A patient/
 * scope without a patient claim grants nothing. */
size_t policy_grants(const policy_principal *p, const char *type, unsigned perm, policy_grant *out,
                     size_t max);

/* 1 if one of the grants is unlimited. */
int policy_unlimited(const policy_grant *g, size_t n);

/* The "c", "rs", ... letters of a permission bit set, for messages. */
const char *policy_perm_name(unsigned perm);

#endif
