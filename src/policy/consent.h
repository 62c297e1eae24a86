/*
 * consent.h - the patient's say: FHIR R4 Consent resources (scope
 * patient-privacy) decide whether an organisation may see or change the
 * patient's data of one resource type, for one purpose.
 *
 * A provision (Consent.provision and, nested, its provision[]) matches a
 * request when its parent matched and each of its conditions holds:
 *   period         now lies within it
 *   actor          some actor.reference names the requesting organisation
 *                  (by identifier, or a literal Organization reference the
 *                  caller resolves)
 *   purpose        the purpose of use is one of its codes
 *   class          the resource type is one of its codes
 *   action         "access" (read, search) or "correct" (write) is listed
 *   securityLabel  the resource bears one of the labels
 * Across all the patient's active consents, the deepest matching provision
 * that has a type decides; at equal depth deny beats permit. No matching
 * provision: the default. Conditions that cannot be checked here (code,
 * data, dataPeriod, class on a search across types, more labels than
 * CONSENT_MAX_LABELS) are read the careful way: a permit provision bearing
 * one does not match, a deny provision does.
 *
 * The answer may depend on a resource's security labels; it is given for
 * each combination ("profile") of the labels the consents name.
 */
#ifndef BRON_CONSENT_H
#define BRON_CONSENT_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"

#define CONSENT_MAX_LABELS 4
#define CONSENT_PROFILES   (1u << CONSENT_MAX_LABELS)

typedef struct consent_label {
	const char *system, *code;
} consent_label;

typedef struct consent_ask {
	const char *organization; /* "system|value" or a bare value; NULL: none */
	const char *purpose;      /* purpose of use code; NULL counts as TREAT */
	const char *action;       /* "access" (read, search) or "correct" (write) */
	const char *type;         /* resource type; NULL: a search across types */
	int64_t now;              /* microseconds since the epoch */
	/* 1 if the literal reference (e.g. "Organization/x") is an organisation
	 * with identifier `organization`; NULL: literal references never match */
	int (*names_org)(void *ctx, const char *reference, const char *organization);
	void *ctx;
} consent_ask;

typedef struct consent_decision {
	size_t nlabels;                           /* the labels the answer depends on */
	consent_label labels[CONSENT_MAX_LABELS]; /* borrowed from the consents */
	/* per profile s (bit i set: the resource bears labels[i]), s < 1 << nlabels */
	unsigned char permit[CONSENT_PROFILES];
	const char *by[CONSENT_PROFILES]; /* "Consent/<id>" that decided, NULL: the default */
} consent_decision;

/* Decide for `ask` from the patient's consents (those not active or not of
 * scope patient-privacy are ignored). Strings in `out` are arena-owned or
 * borrowed from the consents, which must outlive it. */
void consent_decide(arena *a, json_t *const *consents, size_t n, const consent_ask *ask,
                    int default_permit, consent_decision *out);

/* 1 if `organization` ("system|value" or "value") is the identifier
 * system/value (a bare value on either side matches on the value alone). */
int consent_same_org(const char *organization, const char *system, const char *value);

#endif
