/*
 * consent.c - deciding from the patient's Consent resources (consent.h).
 */
#include "consent.h"

#include <string.h>

#include "../search/search.h"

enum { NO, YES, UNSURE }; /* a condition: does not hold, holds, cannot be checked */

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int has_code(const json_t *codings, const char *code)
{
	size_t i;
	json_t *c;
	json_array_foreach(codings, i, c)
	{
		const char *v = str(c, "code");
		if (v && code && !strcmp(v, code))
			return 1;
	}
	return 0;
}

int consent_same_org(const char *organization, const char *system, const char *value)
{
	if (!organization || !value)
		return 0;
	const char *bar = strchr(organization, '|');
	const char *v = bar ? bar + 1 : organization;
	if (strcmp(v, value))
		return 0;
	if (!bar || !system)
		return 1;
	return strlen(system) == (size_t)(bar - organization) &&
	       !strncmp(system, organization, (size_t)(bar - organization));
}

static int relevant(const json_t *consent)
{
	const char *status = str(consent, "status");
	if (!status || strcmp(status, "active"))
		return 0;
	return has_code(json_object_get(json_object_get(consent, "scope"), "coding"),
	                "patient-privacy");
}

static int period_holds(const json_t *p, int64_t now)
{
	if (!p)
		return YES;
	const char *start = str(p, "start"), *end = str(p, "end");
	int64_t lo, hi;
	if (start) {
		if (search_date_range(start, &lo, &hi))
			return UNSURE;
		if (now < lo)
			return NO;
	}
	if (end) {
		if (search_date_range(end, &lo, &hi))
			return UNSURE;
		if (now > hi)
			return NO;
	}
	return YES;
}

static int actor_holds(const json_t *actors, const consent_ask *ask)
{
	if (!actors)
		return YES;
	if (!ask->organization)
		return NO;
	size_t i;
	json_t *a;
	json_array_foreach(actors, i, a)
	{
		const json_t *ref = json_object_get(a, "reference");
		const json_t *id = json_object_get(ref, "identifier");
		if (id && consent_same_org(ask->organization, str(id, "system"), str(id, "value")))
			return YES;
		const char *lit = str(ref, "reference");
		if (lit && ask->names_org && ask->names_org(ask->ctx, lit, ask->organization))
			return YES;
	}
	return NO;
}

static int action_holds(const json_t *actions, const char *action)
{
	if (!actions)
		return YES;
	size_t i;
	json_t *cc;
	json_array_foreach(actions, i, cc)
	{
		if (has_code(json_object_get(cc, "coding"), action))
			return YES;
	}
	return NO;
}

static int same_label(const consent_label *l, const json_t *coding)
{
	const char *sys = str(coding, "system"), *code = str(coding, "code");
	return code && !strcmp(code, l->code) &&
	       ((!sys && !l->system) || (sys && l->system && !strcmp(sys, l->system)));
}

static int label_index(const consent_decision *d, const json_t *coding)
{
	for (size_t i = 0; i < d->nlabels; i++)
		if (same_label(&d->labels[i], coding))
			return (int)i;
	return -1;
}

/* Does the resource of profile s bear one of the provision's labels? */
static int labels_hold(const json_t *labels, const consent_decision *d, unsigned s)
{
	if (!labels || !json_array_size(labels))
		return YES;
	int unsure = 0;
	size_t i;
	json_t *l;
	json_array_foreach(labels, i, l)
	{
		int k = label_index(d, l);
		if (k < 0)
			unsure = 1;
		else if (s & (1u << k))
			return YES;
	}
	return unsure ? UNSURE : NO;
}

/* All the conditions of one provision, for profile s. */
static int holds(const json_t *p, const consent_ask *ask, const consent_decision *d, unsigned s)
{
	int r[6];
	r[0] = period_holds(json_object_get(p, "period"), ask->now);
	r[1] = actor_holds(json_object_get(p, "actor"), ask);
	const json_t *purpose = json_object_get(p, "purpose");
	r[2] = !purpose ? YES : has_code(purpose, ask->purpose ? ask->purpose : "TREAT") ? YES : NO;
	const json_t *class = json_object_get(p, "class");
	r[3] = !class ? YES : !ask->type ? UNSURE : has_code(class, ask->type) ? YES : NO;
	r[4] = action_holds(json_object_get(p, "action"), ask->action);
	r[5] = labels_hold(json_object_get(p, "securityLabel"), d, s);
	int out = YES;
	for (size_t i = 0; i < 6; i++) {
		if (r[i] == NO)
			return NO;
		if (r[i] == UNSURE)
			out = UNSURE;
	}
	if (json_object_get(p, "code") || json_object_get(p, "data") ||
	    json_object_get(p, "dataPeriod"))
		out = UNSURE;
	return out;
}

typedef struct best {
	int depth; /* -1: nothing matched */
	int deny;
	const json_t *consent;
} best;

static void walk(const json_t *p, int depth, int unsure, const json_t *consent,
                 const consent_ask *ask, const consent_decision *d, unsigned s, best *b)
{
	if (!json_is_object(p) || depth > 64)
		return;
	int h = holds(p, ask, d, s);
	if (h == NO)
		return;
	unsure |= h == UNSURE;
	const char *type = str(p, "type");
	int deny = type && !strcmp(type, "deny");
	int permit = type && !strcmp(type, "permit");
	/* a permit counts only when sure, a deny even when not */
	if ((deny || (permit && !unsure)) && (depth > b->depth || (depth == b->depth && deny))) {
		b->depth = depth;
		b->deny = deny;
		b->consent = consent;
	}
	size_t i;
	json_t *child;
	json_array_foreach(json_object_get(p, "provision"), i, child)
	{
		walk(child, depth + 1, unsure, consent, ask, d, s, b);
	}
}

static void collect_labels(const json_t *p, consent_decision *d, int depth)
{
	if (!json_is_object(p) || depth > 64)
		return;
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(p, "securityLabel"), i, l)
	{
		if (d->nlabels < CONSENT_MAX_LABELS && str(l, "code") && label_index(d, l) < 0) {
			d->labels[d->nlabels].system = str(l, "system");
			d->labels[d->nlabels].code = str(l, "code");
			d->nlabels++;
		}
	}
	json_array_foreach(json_object_get(p, "provision"), i, l)
	{
		collect_labels(l, d, depth + 1);
	}
}

void consent_decide(arena *a, json_t *const *consents, size_t n, const consent_ask *ask,
                    int default_permit, consent_decision *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++)
		if (relevant(consents[i]))
			collect_labels(json_object_get(consents[i], "provision"), out, 0);
	for (unsigned s = 0; s < (1u << out->nlabels); s++) {
		best b = {.depth = -1};
		for (size_t i = 0; i < n; i++)
			if (relevant(consents[i]))
				walk(json_object_get(consents[i], "provision"), 0, 0, consents[i],
				     ask, out, s, &b);
		if (b.depth < 0) {
			out->permit[s] = (unsigned char)(default_permit != 0);
			out->by[s] = NULL;
		} else {
			const char *id = str(b.consent, "id");
			out->permit[s] = (unsigned char)!b.deny;
			out->by[s] = arena_printf(a, "Consent/%s", id ? id : "?");
		}
	}
}
