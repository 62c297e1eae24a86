/*
 * fhirpath.h - Bron's FHIRPath (N1, as used by FHIR R4) engine: the one public
 * interface of src/fhirpath/. An expression is compiled once into an immutable
 * tree (fp_compile) that any number of threads may evaluate at the same time
 * (fp_eval); evaluation allocates only from the caller's arena and keeps no
 * global mutable state. Inputs are jansson trees of FHIR JSON, typed through
 * the generated model (src/model/model.h). Errors are values: compile and
 * evaluation problems are added to a diag_list, nothing aborts.
 */
#ifndef BRON_FHIRPATH_H
#define BRON_FHIRPATH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* A compiled expression. Owned by the caller of fp_compile; immutable. */
typedef struct fp_expr fp_expr;

/* One item of a result collection (opaque; read it with fp_item_*). Items
 * point into the evaluated JSON tree and the evaluation arena: valid while
 * both live. */
typedef struct fp_item fp_item;

/* A result collection: `count` items, arena-owned. */
typedef struct fp_collection {
	fp_item *items; /* array of count items (use fp_collection_at) */
	size_t count;
	size_t cap;
} fp_collection;

/* The kind of an item: a node of the FHIR tree, or a System value. */
typedef enum fp_kind {
	FP_NODE, /* an element of the input: fp_item_json / fp_item_type */
	FP_BOOLEAN,
	FP_STRING,
	FP_INTEGER,
	FP_DECIMAL,
	FP_DATE,
	FP_DATETIME,
	FP_TIME,
	FP_QUANTITY
} fp_kind;

/* An extra %variable passed to an evaluation. */
typedef struct fp_var {
	const char *name;    /* without the '%', e.g. "patientId" */
	const json_t *value; /* borrowed; a JSON string/number/boolean becomes a System
	                      * value, an object with resourceType a resource node */
} fp_var;

/* Resolve a reference string ("Patient/1", "urn:uuid:..") to a resource.
 * Return 0 and set *out when found, non-zero otherwise. Called from any
 * thread that evaluates; must not keep state the callers share unsafely. */
typedef int (*fp_resolve_fn)(void *ctx, const char *reference, const json_t **out);

/* Everything an evaluation may look at beyond the resource itself. All
 * fields are optional (a zeroed fp_env, or NULL, is fine); borrowed. */
typedef struct fp_env {
	const json_t *resource;      /* %resource; default: the evaluated resource */
	const json_t *root_resource; /* %rootResource; default: %resource */
	const fp_var *vars;          /* extra variables, nvars of them */
	size_t nvars;
	fp_resolve_fn resolve; /* used by resolve() after contained/Bundle lookup */
	void *resolve_ctx;
	unsigned max_depth; /* recursion bound (0: 200) */
	size_t max_items;   /* bound on any intermediate collection (0: 1,000,000) */
	size_t max_bytes;   /* bound on arena bytes one evaluation may use (0: 256 MiB) */
	/* memberOf(valueset): is (system, code) in the ValueSet with this URL?
	 * system may be NULL (a bare code). Return 0 and set *member to 0/1 when
	 * known, non-zero when unknown. NULL: memberOf() is always empty. */
	int (*member_of)(void *ctx, const char *valueset, const char *system, const char *code,
	                 int *member);
	void *member_of_ctx;
	/* trace(name) output; NULL: discarded. */
	void (*trace)(void *ctx, const char *name, const fp_collection *c);
	void *trace_ctx;
} fp_env;

/* Compile `src`. On success returns 0 and sets *out (free with fp_free).
 * On a syntax or static error returns -1, sets *out to NULL and adds a
 * diagnostic (code "invalid") whose message names the 1-based column. */
int fp_compile(const char *src, fp_expr **out, diag_list *d);
/* Free a compiled expression. NULL is allowed. */
void fp_free(fp_expr *e);
/* The source text the expression was compiled from (owned by e). */
const char *fp_expr_source(const fp_expr *e);

/* Evaluate e with `resource` as context (%context, $this, and %resource unless
 * env says otherwise). `resource` may be any JSON value; NULL is an empty
 * context. The result collection and its items are allocated from `a`.
 * Returns 0 on success, -1 on an evaluation error (a singleton expected, a
 * type mismatch, a limit reached, ...), with a diagnostic (code "processing")
 * added to d; out is then empty. Thread-safe for a shared e. */
int fp_eval(const fp_expr *e, const json_t *resource, const fp_env *env, arena *a,
            fp_collection *out, diag_list *d);

/* Shorthand: evaluate and reduce to a boolean the way FHIRPath invariants
 * do: 1 for a single true, 0 for a single false or empty, -1 on error or a
 * result that is not a single boolean. */
int fp_eval_boolean(const fp_expr *e, const json_t *resource, const fp_env *env, arena *a,
                    diag_list *d);

/* ---- reading results ---- */

size_t fp_collection_count(const fp_collection *c);
const fp_item *fp_collection_at(const fp_collection *c, size_t i);

fp_kind fp_item_kind(const fp_item *it);
/* FP_NODE: the JSON value (object, or the primitive's string/number/boolean);
 * NULL for a primitive that has only an "_x" sibling, or for the stand-in
 * resolve() returns for a reference it cannot follow. NULL for system values. */
const json_t *fp_item_json(const fp_item *it);
/* FP_NODE primitives: the "_x" sibling object (id, extension) or NULL. */
const json_t *fp_item_element(const fp_item *it);
/* Type name: the FHIR type of a node ("HumanName", "date", "Patient",
 * "Patient.contact" for a backbone element, NULL when unknown), or the System
 * type of a value ("Boolean", "String", ... "Quantity"). Static string. */
const char *fp_item_type(const fp_item *it);
/* The item as a System value (FHIR primitives and Quantity convert, as in
 * FHIRPath's implicit conversion): `it` itself when it is one already, else
 * a new item from `a`; NULL for complex nodes. */
const fp_item *fp_item_value(const fp_item *it, arena *a);
/* Values of System items (after fp_item_value): */
int fp_item_boolean(const fp_item *it);
int64_t fp_item_integer(const fp_item *it);
double fp_item_decimal(const fp_item *it); /* also Integer and Quantity value */
/* String, and for every other kind its FHIRPath toString() form (dates as
 * written, "1 'mg'" for quantities); NULL for complex nodes. Arena-owned. */
const char *fp_item_string(const fp_item *it, arena *a);
/* FP_QUANTITY: the unit ("mg", or a calendar word such as "year"). */
const char *fp_item_quantity_unit(const fp_item *it);

/* The collection as a JSON array (new reference): nodes as their JSON,
 * Booleans/Integers/Decimals as JSON values, other values as strings in
 * their literal form, Quantities as {"value":..,"unit":..}. */
json_t *fp_collection_to_json(const fp_collection *c);

#endif
