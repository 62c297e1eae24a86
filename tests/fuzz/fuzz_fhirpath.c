/*
 * fuzz_fhirpath.c - libFuzzer target for the FHIRPath parser and evaluator.
 * Input: the first line is the expression; the rest, when it parses as JSON,
 * is the resource (otherwise a small built-in Patient is used). Every
 * expression that compiles is evaluated; any crash, sanitizer report or leak
 * is a bug. Built and run by tests/fuzz/run.sh (`make fuzz`).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fhirpath/fhirpath.h"

static const char PATIENT[] =
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"active\":true,"
        "\"name\":[{\"use\":\"official\",\"family\":\"Chalmers\",\"given\":[\"Peter\",\"James\"]},"
        "{\"given\":[\"Jim\"],\"_given\":[{\"extension\":[{\"url\":\"u\",\"valueString\":\"x\"}]}]}"
        "],"
        "\"birthDate\":\"1974-12-25\",\"_birthDate\":{\"extension\":[{\"url\":\"http://hl7.org/"
        "fhir/"
        "StructureDefinition/"
        "patient-birthTime\",\"valueDateTime\":\"1974-12-25T14:35:45-05:00\"}]},"
        "\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"o1\",\"name\":\"Org\"}],"
        "\"managingOrganization\":{\"reference\":\"#o1\"},"
        "\"generalPractitioner\":[{\"reference\":\"Practitioner/12\"}],"
        "\"extension\":[{\"url\":\"e\",\"valueQuantity\":{\"value\":4.5,\"unit\":\"kg\",\"code\":"
        "\"kg\","
        "\"system\":\"http://unitsofmeasure.org\"}}]}";

static void trace(void *ctx, const char *name, const fp_collection *c)
{
	(void)ctx;
	(void)name;
	(void)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *patient;
	if (!patient)
		patient = json_loads(PATIENT, 0, NULL);
	if (size > 4096)
		return 0;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t)(nl - data) : size;
	char *src = malloc(elen + 1);
	memcpy(src, data, elen);
	src[elen] = 0;
	json_t *res = NULL;
	if (nl && size - elen > 1)
		res = json_loadb((const char *)nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
	arena *a = arena_new(0);
	diag_list d;
	diag_init(&d, a);
	fp_expr *e = NULL;
	if (fp_compile(src, &e, &d) == 0) {
		fp_env env = {.trace = trace,
		              .max_items = 20000,
		              .max_depth = 100,
		              .max_bytes = 32 << 20};
		fp_collection out;
		if (fp_eval(e, res ? res : patient, &env, a, &out, &d) == 0) {
			json_t *j = fp_collection_to_json(&out);
			json_decref(j);
			for (size_t i = 0; i < fp_collection_count(&out); i++)
				(void)fp_item_string(fp_collection_at(&out, i), a);
		}
		fp_free(e);
	}
	json_decref(res);
	arena_free(a);
	free(src);
	return 0;
}
