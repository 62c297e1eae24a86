/*
 * test_model.c - unit tests of the generated FHIR R4 model lookups in
 * src/model/model.c: types and their bases, JSON properties (choice types,
 * backbone elements, contentReference, inherited elements), search
 * parameters (incl. Resource-level and composite ones), the Patient
 * compartment and required bindings. Pure static data, so no fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

static const model_type *T(const char *name)
{
	const model_type *t = model_type_get(name);

	if (t == NULL)
		fail_msg("type %s not found", name);
	return t;
}

static void test_type_lookup(void **state)
{
	const model_type *patient = T("Patient");

	assert_string_equal(model_type_name(patient), "Patient");
	assert_int_equal(model_type_kind(patient), MODEL_KIND_RESOURCE);
	assert_true(model_type_is_concrete_resource(patient));
	assert_false(model_type_is_backbone(patient));
	assert_ptr_equal(model_type_base(patient), T("DomainResource"));
	assert_ptr_equal(model_type_base(T("DomainResource")), T("Resource"));
	assert_null(model_type_base(T("Resource")));
	assert_false(model_type_is_concrete_resource(T("Resource")));
	assert_false(model_type_is_concrete_resource(T("DomainResource")));
	assert_false(model_type_is_concrete_resource(T("HumanName")));
	assert_int_equal(model_type_kind(T("HumanName")), MODEL_KIND_COMPLEX);
	assert_ptr_equal(model_type_base(T("HumanName")), T("Element"));
	assert_null(model_type_get("patient"));
	assert_null(model_type_get("NoSuchType"));
	assert_null(model_type_get(""));
	assert_null(model_type_get(NULL));
	assert_null(model_type_get("SimpleQuantity")); /* a profile, not a type */
}

static void test_primitive_json(void **state)
{
	assert_int_equal(model_type_kind(T("string")), MODEL_KIND_PRIMITIVE);
	assert_int_equal(model_type_json(T("string")), MODEL_JSON_STRING);
	assert_int_equal(model_type_json(T("boolean")), MODEL_JSON_BOOLEAN);
	assert_int_equal(model_type_json(T("integer")), MODEL_JSON_INTEGER);
	assert_int_equal(model_type_json(T("positiveInt")), MODEL_JSON_INTEGER);
	assert_int_equal(model_type_json(T("unsignedInt")), MODEL_JSON_INTEGER);
	assert_int_equal(model_type_json(T("decimal")), MODEL_JSON_NUMBER);
	assert_int_equal(model_type_json(T("date")), MODEL_JSON_STRING);
	assert_int_equal(model_type_json(T("code")), MODEL_JSON_STRING);
	assert_int_equal(model_type_json(T("xhtml")), MODEL_JSON_STRING);
	assert_int_equal(model_type_json(T("Patient")), MODEL_JSON_NONE);
	assert_ptr_equal(model_type_base(T("code")), T("string"));
	assert_ptr_equal(model_type_base(T("positiveInt")), T("integer"));
}

static void test_derives(void **state)
{
	assert_true(model_type_derives(T("Patient"), T("Resource")));
	assert_true(model_type_derives(T("Patient"), T("Patient")));
	assert_true(model_type_derives(T("Age"), T("Quantity")));
	assert_true(model_type_derives(T("Dosage"), T("BackboneElement")));
	assert_false(model_type_derives(T("Patient"), T("Element")));
	assert_false(model_type_derives(T("Bundle"), T("DomainResource")));
	assert_true(model_type_derives(T("Bundle"), T("Resource")));
}

static void test_props(void **state)
{
	model_prop p;
	const model_type *patient = T("Patient");

	assert_int_equal(model_prop_find(patient, "name", &p), 0);
	assert_string_equal(p.element, "name");
	assert_ptr_equal(p.type, T("HumanName"));
	assert_true(p.is_array);
	assert_false(p.is_choice);
	assert_int_equal(p.min, 0);

	assert_int_equal(model_prop_find(patient, "gender", &p), 0);
	assert_ptr_equal(p.type, T("code"));
	assert_false(p.is_array);

	/* inherited from Resource and DomainResource; Resource.id is an id */
	assert_int_equal(model_prop_find(patient, "id", &p), 0);
	assert_ptr_equal(p.type, T("id"));
	assert_int_equal(model_prop_find(patient, "meta", &p), 0);
	assert_ptr_equal(p.type, T("Meta"));
	assert_int_equal(model_prop_find(patient, "implicitRules", &p), 0);
	assert_int_equal(model_prop_find(patient, "language", &p), 0);
	assert_int_equal(model_prop_find(patient, "text", &p), 0);
	assert_ptr_equal(p.type, T("Narrative"));
	assert_int_equal(model_prop_find(patient, "contained", &p), 0);
	assert_ptr_equal(p.type, T("Resource"));
	assert_true(p.is_array);
	assert_int_equal(model_prop_find(patient, "extension", &p), 0);
	assert_ptr_equal(p.type, T("Extension"));
	assert_int_equal(model_prop_find(patient, "modifierExtension", &p), 0);

	assert_int_equal(model_prop_find(patient, "nope", &p), -1);
	assert_int_equal(model_prop_find(patient, "_name", &p), -1);
	assert_int_equal(model_prop_find(patient, "resourceType", &p), -1);
	assert_int_equal(model_prop_find(patient, "", &p), -1);

	/* Element.id inside a data type is a plain string */
	assert_int_equal(model_prop_find(T("HumanName"), "id", &p), 0);
	assert_ptr_equal(p.type, T("string"));
	/* Bundle is a Resource but not a DomainResource */
	assert_int_equal(model_prop_find(T("Bundle"), "text", &p), -1);
	assert_int_equal(model_prop_find(T("Bundle"), "type", &p), 0);
	assert_int_equal(p.min, 1);
}

static void test_primitive_props(void **state)
{
	model_prop p;

	assert_int_equal(model_prop_find(T("string"), "id", &p), 0);
	assert_int_equal(model_prop_find(T("string"), "extension", &p), 0);
	assert_true(p.is_array);
	assert_int_equal(model_prop_find(T("string"), "value", &p), -1);
	assert_int_equal(model_type_element_count(T("date")), 2);
}

static void test_choice(void **state)
{
	model_prop p;
	const model_type *obs = T("Observation");
	const model_type *const *types;
	size_t n;
	int saw_quantity = 0, saw_period = 0;

	assert_int_equal(model_prop_find(obs, "valueQuantity", &p), 0);
	assert_string_equal(p.element, "value[x]");
	assert_ptr_equal(p.type, T("Quantity"));
	assert_true(p.is_choice);
	assert_false(p.is_array);
	assert_int_equal(model_prop_find(obs, "valueDateTime", &p), 0);
	assert_ptr_equal(p.type, T("dateTime"));
	assert_int_equal(model_prop_find(obs, "valueCodeableConcept", &p), 0);
	assert_int_equal(model_prop_find(obs, "value", &p), -1);
	assert_int_equal(model_prop_find(obs, "value[x]", &p), -1);
	assert_int_equal(model_prop_find(obs, "valueAge", &p), -1);
	assert_int_equal(model_prop_find(obs, "effectiveInstant", &p), 0);

	n = model_choice_types(obs, "value", &types);
	assert_int_equal(n, 11);
	for (size_t i = 0; i < n; i++) {
		saw_quantity |= types[i] == T("Quantity");
		saw_period |= types[i] == T("Period");
	}
	assert_true(saw_quantity && saw_period);
	assert_int_equal(model_choice_types(obs, "status", &types), 0);
	assert_int_equal(model_choice_types(obs, "val", &types), 0);

	/* Extension.value[x] takes every data type */
	assert_true(model_choice_types(T("Extension"), "value", &types) >= 49);
	assert_int_equal(model_prop_find(T("Extension"), "valueBase64Binary", &p), 0);
	assert_int_equal(model_prop_find(T("Extension"), "valueMeta", &p), 0);
	assert_int_equal(model_prop_find(T("Extension"), "url", &p), 0);
	assert_ptr_equal(p.type, T("uri"));
	assert_int_equal(p.min, 1);
}

static void test_backbone(void **state)
{
	model_prop p;
	const model_type *contact = T("Patient.contact");

	assert_int_equal(model_type_kind(contact), MODEL_KIND_BACKBONE);
	assert_true(model_type_is_backbone(contact));
	assert_ptr_equal(model_type_base(contact), T("BackboneElement"));
	assert_int_equal(model_prop_find(T("Patient"), "contact", &p), 0);
	assert_ptr_equal(p.type, contact);
	assert_true(p.is_array);
	assert_int_equal(model_prop_find(contact, "name", &p), 0);
	assert_ptr_equal(p.type, T("HumanName"));
	assert_false(p.is_array);
	assert_int_equal(model_prop_find(contact, "modifierExtension", &p), 0);
	assert_int_equal(model_prop_find(contact, "id", &p), 0);
	assert_ptr_equal(p.type, T("string"));

	/* nested backbone, and one typed Element inside a data type */
	assert_int_equal(model_type_kind(T("Bundle.entry.request")), MODEL_KIND_BACKBONE);
	assert_ptr_equal(model_type_base(T("Timing.repeat")), T("Element"));
	assert_int_equal(model_prop_find(T("Timing.repeat"), "boundsDuration", &p), 0);
	assert_int_equal(model_prop_find(T("Timing.repeat"), "count", &p), 0);
	assert_ptr_equal(p.type, T("positiveInt"));
	assert_int_equal(model_prop_find(T("Bundle.entry"), "resource", &p), 0);
	assert_ptr_equal(p.type, T("Resource"));
	assert_int_equal(model_prop_find(T("Parameters.parameter"), "resource", &p), 0);
	assert_ptr_equal(p.type, T("Resource"));
}

static void test_content_reference(void **state)
{
	model_prop p;
	const model_type *item = T("Questionnaire.item");

	assert_int_equal(model_prop_find(item, "item", &p), 0);
	assert_ptr_equal(p.type, item);
	assert_true(p.is_array);
	assert_int_equal(model_prop_find(T("Parameters.parameter"), "part", &p), 0);
	assert_ptr_equal(p.type, T("Parameters.parameter"));
	assert_int_equal(model_prop_find(T("Bundle.entry"), "link", &p), 0);
	assert_ptr_equal(p.type, T("Bundle.link"));
	assert_int_equal(model_prop_find(T("ValueSet.compose"), "exclude", &p), 0);
	assert_ptr_equal(p.type, T("ValueSet.compose.include"));
	/* max 1 on a contentReference element */
	assert_int_equal(model_prop_find(T("TestScript.test.action"), "operation", &p), 0);
	assert_false(p.is_array);
	assert_ptr_equal(p.type, T("TestScript.setup.action.operation"));
}

static void test_element_iteration(void **state)
{
	const model_type *patient = T("Patient");
	size_t n = model_type_element_count(patient);
	model_prop p, q;

	assert_true(n >= 20);
	assert_int_equal(model_type_element_at(patient, 0, &p), 0);
	assert_string_equal(model_type_element_json_name(patient, 0), "id");
	assert_string_equal(p.element, "id");
	for (size_t i = 0; i < n; i++) {
		const char *name = model_type_element_json_name(patient, i);

		assert_int_equal(model_type_element_at(patient, i, &p), 0);
		assert_int_equal(model_prop_find(patient, name, &q), 0);
		assert_ptr_equal(p.type, q.type);
		assert_string_equal(p.element, q.element);
	}
	assert_int_equal(model_type_element_at(patient, n, &p), -1);
	assert_null(model_type_element_json_name(patient, n));
	/* the choice appears once per type, adjacent, in definition order */
	assert_string_equal(model_type_element_json_name(patient, 14), "deceasedBoolean");
	assert_string_equal(model_type_element_json_name(patient, 15), "deceasedDateTime");
}

static void test_resources(void **state)
{
	size_t n = model_resource_count();
	int saw_patient = 0;

	assert_int_equal(n, 146);
	for (size_t i = 0; i < n; i++) {
		const model_type *t = model_resource_at(i);

		assert_non_null(t);
		assert_true(model_type_is_concrete_resource(t));
		if (i > 0)
			assert_true(strcmp(model_type_name(model_resource_at(i - 1)),
			                   model_type_name(t)) < 0);
		saw_patient |= t == T("Patient");
	}
	assert_true(saw_patient);
	assert_null(model_resource_at(n));
}

static void test_all_props_resolve(void **state)
{
	/* every property of every resource round-trips through the sorted index */
	for (size_t r = 0; r < model_resource_count(); r++) {
		const model_type *t = model_resource_at(r);

		for (size_t i = 0; i < model_type_element_count(t); i++) {
			model_prop p;

			assert_int_equal(model_prop_find(t, model_type_element_json_name(t, i), &p),
			                 0);
			assert_non_null(p.type);
		}
	}
}

static int list_has(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static void test_search_params(void **state)
{
	const model_search_param *sp;

	assert_int_equal(model_search_param_count(), 1375);
	assert_non_null(model_search_param_at(0));
	assert_null(model_search_param_at(1375));

	sp = model_search_param_find("Patient", "name");
	assert_non_null(sp);
	assert_string_equal(sp->id, "Patient-name");
	assert_string_equal(sp->url, "http://hl7.org/fhir/SearchParameter/Patient-name");
	assert_int_equal(sp->type, MODEL_SP_STRING);
	assert_string_equal(sp->expression, "Patient.name");
	assert_true(list_has(sp->bases, "Patient"));

	sp = model_search_param_find("Patient", "_id");
	assert_non_null(sp);
	assert_int_equal(sp->type, MODEL_SP_TOKEN);
	assert_string_equal(sp->expression, "Resource.id");
	sp = model_search_param_find("Observation", "_lastUpdated");
	assert_non_null(sp);
	assert_int_equal(sp->type, MODEL_SP_DATE);
	assert_string_equal(sp->expression, "Resource.meta.lastUpdated");
	assert_non_null(model_search_param_find("Bundle", "_id"));
	assert_non_null(model_search_param_find("Resource", "_id"));
	assert_non_null(model_search_param_find("Patient", "_text"));
	assert_null(model_search_param_find("Bundle", "_text")); /* not a DomainResource */

	sp = model_search_param_find("Observation", "subject");
	assert_non_null(sp);
	assert_int_equal(sp->type, MODEL_SP_REFERENCE);
	assert_true(list_has(sp->targets, "Patient"));
	assert_true(list_has(sp->targets, "Group"));

	/* one definition shared by many bases */
	sp = model_search_param_find("Observation", "patient");
	assert_non_null(sp);
	assert_string_equal(sp->id, "clinical-patient");
	assert_ptr_equal(sp, model_search_param_find("Condition", "patient"));
	assert_true(list_has(sp->bases, "Observation") && list_has(sp->bases, "Condition"));

	assert_null(model_search_param_find("Patient", "nope"));
	assert_null(model_search_param_find("NoSuchType", "_id"));
	assert_null(model_search_param_find("HumanName", "_id"));
	assert_null(model_search_param_find("Patient", NULL));
}

static void test_composite(void **state)
{
	const model_search_param *sp =
	        model_search_param_find("Observation", "code-value-quantity");

	assert_non_null(sp);
	assert_int_equal(sp->type, MODEL_SP_COMPOSITE);
	assert_int_equal(sp->component_count, 2);
	assert_string_equal(sp->components[0].code, "code");
	assert_string_equal(sp->components[0].expression, "code");
	assert_string_equal(sp->components[0].definition,
	                    "http://hl7.org/fhir/SearchParameter/clinical-code");
	assert_string_equal(sp->components[1].code, "value-quantity");
	assert_non_null(strstr(sp->components[1].expression, "Quantity"));
	/* every composite's components resolve to a param of one of its bases */
	for (size_t i = 0; i < model_search_param_count(); i++) {
		const model_search_param *c = model_search_param_at(i);

		if (c->type != MODEL_SP_COMPOSITE) {
			assert_int_equal(c->component_count, 0);
			continue;
		}
		assert_true(c->component_count >= 2);
		for (size_t k = 0; k < c->component_count; k++) {
			assert_non_null(c->components[k].code);
			assert_non_null(
			        model_search_param_find(c->bases[0], c->components[k].code));
		}
	}
}

static void test_params_for(void **state)
{
	const model_search_param *const *sps;
	size_t n = model_search_params_for("Patient", &sps);
	int saw_id = 0, saw_family = 0;

	assert_true(n > 30);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(strcmp(sps[i - 1]->code, sps[i]->code) < 0);
		saw_id |= strcmp(sps[i]->code, "_id") == 0;
		saw_family |= strcmp(sps[i]->code, "family") == 0;
	}
	assert_true(saw_id && saw_family);
	assert_int_equal(model_search_params_for("NoSuchType", &sps), 0);
	assert_null(sps);
	/* every concrete resource gets at least the Resource-level ones */
	for (size_t r = 0; r < model_resource_count(); r++)
		assert_non_null(model_search_param_find(model_type_name(model_resource_at(r)),
		                                        "_lastUpdated"));
}

static void test_compartment(void **state)
{
	const char *const *c = model_patient_compartment("Observation");

	assert_non_null(c);
	assert_string_equal(c[0], "subject");
	assert_string_equal(c[1], "performer");
	assert_null(c[2]);
	c = model_patient_compartment("AllergyIntolerance");
	assert_true(list_has(c, "patient") && list_has(c, "recorder") && list_has(c, "asserter"));
	c = model_patient_compartment("Patient");
	assert_non_null(c);
	assert_string_equal(c[0], "link");
	assert_null(model_patient_compartment("Organization"));
	assert_null(model_patient_compartment("Binary"));
	assert_null(model_patient_compartment("NoSuchType"));
	/* every compartment code is a search param of that type */
	for (size_t r = 0; r < model_resource_count(); r++) {
		const char *name = model_type_name(model_resource_at(r));

		for (c = model_patient_compartment(name); c && *c; c++)
			assert_non_null(model_search_param_find(name, *c));
	}
}

static void test_bindings(void **state)
{
	const model_type *patient = T("Patient");

	assert_string_equal(model_prop_binding(patient, "gender"),
	                    "http://hl7.org/fhir/ValueSet/administrative-gender");
	assert_true(model_code_allowed(patient, "gender", "female"));
	assert_true(model_code_allowed(patient, "gender", "unknown"));
	assert_false(model_code_allowed(patient, "gender", "Female"));
	assert_false(model_code_allowed(patient, "gender", "mal"));
	assert_true(model_code_allowed(T("HumanName"), "use", "official"));
	assert_false(model_code_allowed(T("HumanName"), "use", "formal"));
	assert_true(model_code_allowed(T("Observation"), "status", "final"));
	assert_false(model_code_allowed(T("Observation"), "status", "done"));
	/* nested concepts of a code system are enumerated too */
	assert_true(model_code_allowed(T("Bundle"), "type", "searchset"));
	/* not a code, or no binding: anything goes */
	assert_null(model_prop_binding(patient, "name"));
	assert_true(model_code_allowed(patient, "name", "whatever"));
	/* Resource.language is only preferred */
	assert_null(model_prop_binding(patient, "language"));
	/* mimetypes cannot be enumerated from the spec */
	assert_null(model_prop_binding(T("Attachment"), "contentType"));
	assert_non_null(model_prop_binding(T("Questionnaire"), "status"));
}

static void check_ok(const char *type, json_t *v)
{
	const char *problem = model_primitive_check(T(type), v);

	if (problem)
		fail_msg("%s rejected: %s", type, problem);
	json_decref(v);
}

static void check_bad(const char *type, json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY);

	if (model_primitive_check(T(type), v) == NULL)
		fail_msg("%s accepted %s", type, s);
	free(s);
	json_decref(v);
}

static void test_primitive_check(void **state)
{
	check_ok("date", json_string("2024"));
	check_ok("date", json_string("2024-02"));
	check_ok("date", json_string("2024-02-29"));
	check_bad("date", json_string("2023-02-29"));
	check_bad("date", json_string("2024-13"));
	check_bad("date", json_string("0000"));
	check_bad("date", json_string("24-01-01"));
	check_bad("date", json_string("2024-01-01T10:00:00Z"));
	check_ok("dateTime", json_string("2024-01-01T10:00:00Z"));
	check_ok("dateTime", json_string("2024-01-01T10:00:00.123+14:00"));
	check_ok("dateTime", json_string("2024-01"));
	check_bad("dateTime", json_string("2024-01-01T10:00:00"));
	check_bad("dateTime", json_string("2024-01-01T10:00Z"));
	check_bad("dateTime", json_string("2024-01-01T24:00:00Z"));
	check_bad("dateTime", json_string("2024-01-01T10:00:00+14:30"));
	check_bad("dateTime", json_string("2024-01T10:00:00Z"));
	check_ok("instant", json_string("2015-02-07T13:28:17.239+02:00"));
	check_bad("instant", json_string("2015-02-07"));
	check_bad("instant", json_string("2015-02-07T13:28:17."));
	check_ok("time", json_string("23:59:60"));
	check_bad("time", json_string("23:59"));
	check_ok("id", json_string("a-B.9"));
	check_bad("id", json_string("a_b"));
	check_bad("id", json_string(""));
	check_ok("code", json_string("a b"));
	check_bad("code", json_string("a  b"));
	check_bad("code", json_string(" a"));
	check_bad("uri", json_string("http://x y"));
	check_ok("oid", json_string("urn:oid:2.16.840.1.113883"));
	check_bad("oid", json_string("urn:oid:3.1"));
	check_bad("oid", json_string("urn:oid:1.02"));
	check_ok("uuid", json_string("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"));
	check_bad("uuid", json_string("urn:uuid:C757873D-EC9A-4326-A141-556F43239520"));
	check_ok("base64Binary", json_string("aGVsbG8= aGk="));
	check_bad("base64Binary", json_string("aGVsbG8"));
	check_ok("integer", json_integer(-2147483647 - 1));
	check_bad("integer", json_integer(2147483648LL));
	check_bad("integer", json_real(1.5));
	check_bad("positiveInt", json_integer(0));
	check_ok("unsignedInt", json_integer(0));
	check_bad("unsignedInt", json_integer(-1));
	check_ok("decimal", json_real(1.5));
	check_ok("decimal", json_integer(2));
	check_bad("decimal", json_string("1.5"));
	check_ok("boolean", json_true());
	check_bad("boolean", json_string("true"));
	check_bad("string", json_string(""));
	check_bad("string", json_integer(1));
	assert_non_null(model_primitive_check(T("Patient"), json_true()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_type_lookup),       cmocka_unit_test(test_primitive_json),
	        cmocka_unit_test(test_derives),           cmocka_unit_test(test_props),
	        cmocka_unit_test(test_primitive_props),   cmocka_unit_test(test_choice),
	        cmocka_unit_test(test_backbone),          cmocka_unit_test(test_content_reference),
	        cmocka_unit_test(test_element_iteration), cmocka_unit_test(test_resources),
	        cmocka_unit_test(test_all_props_resolve), cmocka_unit_test(test_search_params),
	        cmocka_unit_test(test_composite),         cmocka_unit_test(test_params_for),
	        cmocka_unit_test(test_compartment),       cmocka_unit_test(test_bindings),
	        cmocka_unit_test(test_primitive_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
