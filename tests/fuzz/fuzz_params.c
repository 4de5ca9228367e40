/* --params-file: a YAML (or JSON) mapping read with salve_yaml_load_file, then checked
 * against a runbook's declared params by salve_runbook_params, as `salve run` does.
 * Invariants: what is accepted holds exactly the declared names, each with its declared type
 * (numbers finite), every required one and every one the file set; a number given for a string
 * param becomes text that reads back as the same number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "runbook.h"
#include "yamljson.h"

static salve_runbook rb;
static char rb_name[] = "fuzz-params";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_error_t jerr;
	rb.name = rb_name;
	rb.params_spec =
	    json_loads("{\"host\": {\"type\": \"string\", \"required\": true},"
	               " \"service\": {\"type\": \"string\", \"default\": \"nginx\"},"
	               " \"count\": {\"type\": \"int\", \"default\": 3},"
	               " \"ratio\": {\"type\": \"number\"},"
	               " \"force\": {\"type\": \"bool\", \"default\": false},"
	               " \"paths\": {\"type\": \"list\"},"
	               " \"labels\": {\"type\": \"map\", \"required\": true, \"default\": {}}}",
	               0, &jerr);
	return rb.params_spec ? 0 : -1;
}

static int has_type(const json_t *v, const char *type)
{
	if (!strcmp(type, "string"))
		return json_is_string(v);
	if (!strcmp(type, "int"))
		return json_is_integer(v);
	if (!strcmp(type, "number"))
		return json_is_number(v) && isfinite(json_number_value(v));
	if (!strcmp(type, "bool"))
		return json_is_boolean(v);
	if (!strcmp(type, "list"))
		return json_is_array(v);
	return !strcmp(type, "map") && json_is_object(v);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_file("params.yaml", data, size);
	char err[4096] = "";
	json_t *given = salve_yaml_load_file(path, err, sizeof err);
	if (!given) {
		FUZZ_CHECK(err[0], "params file refused without a reason");
		return 0;
	}
	if (!json_is_object(given)) { /* salve run refuses it: "must be a mapping" */
		json_decref(given);
		return 0;
	}
	json_t *params = NULL;
	err[0] = '\0';
	if (salve_runbook_params(&rb, given, &params, err, sizeof err) < 0) {
		FUZZ_CHECK(err[0] && !params, "params refused without a reason");
		json_decref(given);
		return 0;
	}
	FUZZ_CHECK(json_is_object(params), "params is not an object");
	const char *key;
	json_t *v;
	json_object_foreach(params, key, v)
	{
		json_t *spec = json_object_get(rb.params_spec, key);
		FUZZ_CHECK(spec != NULL, "undeclared param %s accepted", key);
		const char *type = json_string_value(json_object_get(spec, "type"));
		FUZZ_CHECK(has_type(v, type), "param %s is not a %s", key, type);
	}
	json_object_foreach(rb.params_spec, key, v)
	{
		if (json_is_true(json_object_get(v, "required")))
			FUZZ_CHECK(json_object_get(params, key), "required param %s missing", key);
	}
	json_object_foreach(given, key, v)
	{
		FUZZ_CHECK(json_object_get(rb.params_spec, key), "undeclared %s accepted", key);
		if (json_is_null(v))
			continue;
		json_t *got = json_object_get(params, key);
		FUZZ_CHECK(got != NULL, "param %s given but dropped", key);
		const char *type = json_string_value(
		    json_object_get(json_object_get(rb.params_spec, key), "type"));
		if (!strcmp(type, "string") && json_is_number(v)) {
			char *end;
			double back = strtod(json_string_value(got), &end);
			FUZZ_CHECK(*end == '\0' && back == json_number_value(v),
			           "number %.17g given for string param %s became \"%s\"",
			           json_number_value(v), key, json_string_value(got));
		}
	}
	json_decref(params);
	json_decref(given);
	return 0;
}
