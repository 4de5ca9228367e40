/* Recording a run's plugin calls as a fixture (see record.h). */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

struct salve_recorder {
	json_t *calls;
};

salve_recorder *salve_recorder_new(void)
{
	salve_recorder *r = calloc(1, sizeof *r);
	r->calls = json_array();
	return r;
}

void salve_recorder_free(salve_recorder *r)
{
	if (!r)
		return;
	json_decref(r->calls);
	free(r);
}

static void copy_field(json_t *to, const json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);
	if (v)
		json_object_set_new(to, key, json_deep_copy(v));
}

void salve_recorder_event(void *ctx, const json_t *event)
{
	salve_recorder *r = ctx;
	const char *type = json_string_value(json_object_get(event, "event"));
	int action = type && strcmp(type, "action") == 0;
	if (!action && !(type && strcmp(type, "undo") == 0))
		return;
	char call[256];
	snprintf(call, sizeof call, "%s.%s", json_string_value(json_object_get(event, "plugin")),
	         json_string_value(json_object_get(event, "action")));
	json_t *e = json_pack("{s:s}", "call", call);
	copy_field(e, event, "step");
	if (action)
		copy_field(e, event, "phase");
	else
		json_object_set_new(e, "phase", json_string("undo"));
	static const char *const keys[] = {"target", "args", "outcome", "status",
	                                   "result", "undo", "error"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		copy_field(e, event, keys[i]);
	salve_redact_json(e);
	json_array_append_new(r->calls, e);
}

const json_t *salve_recorder_calls(const salve_recorder *r)
{
	return r->calls;
}

int salve_recorder_write(const salve_recorder *r, const char *path, const json_t *summary,
                         const json_t *params, char *err, size_t errlen)
{
	json_t *doc = json_pack("{s:i, s:O?, s:O?, s:O?, s:O?, s:O?, s:O}", "format", 1, "runbook",
	                        json_object_get(summary, "runbook"), "source",
	                        json_object_get(summary, "source"), "params", params, "mode",
	                        json_object_get(summary, "mode"), "outcome",
	                        json_object_get(summary, "outcome"), "calls", r->calls);
	salve_redact_json(doc);
	/* JSON is YAML: salve test reads either. */
	int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	if (rc < 0) {
		snprintf(err, errlen, "--record %s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
