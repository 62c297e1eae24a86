/*
 * model.h - the FHIR R4 (4.0.1) model as compact C tables generated from the
 * official definitions by tools/gen_model.py (see tools/README.md): resource
 * types, data types with their elements, search parameters with their FHIRPath
 * expressions, the Patient compartment and required-binding code lists.
 * Everything here is immutable static data; all functions are thread-safe and
 * return pointers into static tables (never free them).
 */
#ifndef BRON_MODEL_H
#define BRON_MODEL_H

#include <jansson.h>
#include <stddef.h>

#include "../base/base.h"

/* A resource type, complex data type, primitive type or backbone element
 * (backbone elements get a synthetic type named by their path, e.g.
 * "Patient.contact"; model_type_is_backbone() tells them apart). */
typedef struct model_type model_type;

typedef enum model_kind {
	MODEL_KIND_PRIMITIVE,
	MODEL_KIND_COMPLEX,  /* data type such as HumanName, Quantity, Reference */
	MODEL_KIND_RESOURCE, /* includes abstract Resource and DomainResource */
	MODEL_KIND_BACKBONE  /* synthetic per-path type of a BackboneElement/Element child */
} model_kind;

/* The JSON shape a primitive's value takes. */
typedef enum model_json {
	MODEL_JSON_NONE, /* not a primitive */
	MODEL_JSON_STRING,
	MODEL_JSON_BOOLEAN,
	MODEL_JSON_INTEGER, /* integer, positiveInt, unsignedInt */
	MODEL_JSON_NUMBER   /* decimal */
} model_json;

/* Look a type up by name: "Patient", "HumanName", "string", "Patient.contact".
 * NULL when unknown. */
const model_type *model_type_get(const char *name);
const char *model_type_name(const model_type *t);
model_kind model_type_kind(const model_type *t);
/* True for resource types that may be instantiated (not Resource/DomainResource). */
int model_type_is_concrete_resource(const model_type *t);
/* True for the synthetic per-path types of backbone elements ("Patient.contact"). */
int model_type_is_backbone(const model_type *t);
/* For a primitive: the JSON shape of its value. */
model_json model_type_json(const model_type *t);
/* The base type: DomainResource for Patient, Resource for DomainResource,
 * Element for HumanName, "BackboneElement" for a backbone type (or "Element"
 * where the spec types it so, e.g. Timing.repeat); NULL at the root. */
const model_type *model_type_base(const model_type *t);
/* True if t is `ancestor` or derives from it. */
int model_type_derives(const model_type *t, const model_type *ancestor);

/* The element a JSON property name stands for inside an instance of `t`. */
typedef struct model_prop {
	const char *element;    /* element name as defined, e.g. "value[x]", "name" */
	const model_type *type; /* the concrete type; for "valueQuantity" Quantity */
	int is_array;           /* max cardinality > 1: the JSON value must be an array */
	int is_choice;          /* element is a choice type [x] */
	int min;                /* min cardinality (0 or 1) */
	int is_summary;         /* isSummary in the spec: kept by _summary=true */
} model_prop;

/* Resolve JSON property `name` ("name", "valueQuantity", not "_name") of type
 * t, including inherited elements (id, meta, extension, ...). 0 and *out filled
 * when found; -1 when t has no such element. */
int model_prop_find(const model_type *t, const char *name, model_prop *out);

/* For a choice element ("value" of Observation), the allowed concrete types.
 * Returns the count and sets *types to a static array. 0 if not a choice. */
size_t model_choice_types(const model_type *t, const char *element_base,
                          const model_type *const **types);

/* Iterate the elements of t (own and inherited), for tools and tests: one
 * entry per JSON property in the order the spec defines the elements (which
 * is also the canonical JSON order), a choice element once per concrete type.
 * element_at returns 0, or -1 when i is out of range. */
size_t model_type_element_count(const model_type *t);
int model_type_element_at(const model_type *t, size_t i, model_prop *out);
/* The JSON property name of entry i ("valueQuantity"), NULL when out of range. */
const char *model_type_element_json_name(const model_type *t, size_t i);

/* The value set URL of the required binding checked on code property `name`
 * of t, or NULL (no required binding, or one the spec cannot enumerate). */
const char *model_prop_binding(const model_type *t, const char *name);
/* 1 if `code` may appear in code property `name` of t (always 1 when the
 * property has no checked binding), 0 otherwise. */
int model_code_allowed(const model_type *t, const char *name, const char *code);

/* All concrete resource types, sorted by name. */
size_t model_resource_count(void);
const model_type *model_resource_at(size_t i);

/* ---- validation against the structure definitions ---- */

/* Check a parsed resource: resourceType known and concrete, every property
 * defined for its type, JSON types matching (string/boolean/number/integer/
 * object/array per cardinality), "_x" primitive siblings, nested resources
 * (contained, Bundle.entry.resource, Parameters) checked by their own type,
 * primitive formats (id, date, dateTime, instant, uri, code, ...), required
 * bindings' codes, required (min 1) elements. Each problem becomes a
 * diagnostic with code "structure" (shape), "value" (bad primitive value),
 * "code-invalid" (not in a required binding) or "required" (missing element)
 * and a FHIRPath-like location such as "Patient.name[0].given[1]". Stops
 * walking after d->limit (default 100) errors. Allocates only the diagnostics,
 * from d->a. Returns 0 when valid, otherwise the number of errors added. */
int model_validate(const json_t *resource, diag_list *d);

/* Check one JSON value against primitive type t ("date", "id", "positiveInt",
 * ...): JSON shape and format. NULL when valid, else a static English
 * description of the problem. */
const char *model_primitive_check(const model_type *t, const json_t *value);

/* ---- search parameters ---- */

typedef enum model_sp_type {
	MODEL_SP_NUMBER,
	MODEL_SP_DATE,
	MODEL_SP_STRING,
	MODEL_SP_TOKEN,
	MODEL_SP_REFERENCE,
	MODEL_SP_COMPOSITE,
	MODEL_SP_QUANTITY,
	MODEL_SP_URI,
	MODEL_SP_SPECIAL
} model_sp_type;

typedef struct model_sp_component {
	const char *definition; /* canonical URL of the component's SearchParameter */
	const char *code;       /* its code, resolved by the generator */
	const char *expression; /* FHIRPath relative to the composite's value */
} model_sp_component;

typedef struct model_search_param {
	const char *id;   /* SearchParameter.id, e.g. "Patient-name" */
	const char *url;  /* canonical URL */
	const char *code; /* the name used in URLs: "name" */
	model_sp_type type;
	const char *expression;               /* FHIRPath as published (may span several bases) */
	const char *const *bases;             /* NULL-terminated resource types it applies to */
	const char *const *targets;           /* NULL-terminated reference targets, or NULL */
	const char *const *modifiers;         /* NULL-terminated, or NULL */
	const model_sp_component *components; /* composite only */
	size_t component_count;
} model_search_param;

size_t model_search_param_count(void);
const model_search_param *model_search_param_at(size_t i);
/* The parameter `code` as it applies to `resource_type` (including those on
 * Resource and DomainResource such as _id, _lastUpdated). NULL if none. */
const model_search_param *model_search_param_find(const char *resource_type, const char *code);
/* All parameters applying to `resource_type`; sets *out to a static array. */
size_t model_search_params_for(const char *resource_type, const model_search_param *const **out);

/* ---- Patient compartment ---- */

/* The search-parameter codes that put a resource of this type in a Patient's
 * compartment (NULL-terminated), e.g. {"subject","performer",NULL} for
 * Observation; NULL when the type is not in the compartment. For Patient the
 * R4 definition lists {"link",NULL}; a Patient is also in its own compartment. */
const char *const *model_patient_compartment(const char *resource_type);

#endif
