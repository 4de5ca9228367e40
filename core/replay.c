/* Replay: plugin calls answered from a fixture (see replay.h). */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

struct salve_replay {
	json_t *calls;  /* the fixture's calls, without undo entries */
	json_t *undos;  /* its undo entries */
	json_t *inject; /* injections */
	json_t *seen;   /* call name -> times asked */
	size_t next, next_undo;
};

/* How many times call has been asked, this one included. */
static json_int_t count(salve_replay *r, const char *call)
{
	json_int_t n = json_integer_value(json_object_get(r->seen, call)) + 1;
	json_object_set_new(r->seen, call, json_integer(n));
	return n;
}

static json_t *injection(const salve_replay *r, const char *call, json_int_t n)
{
	size_t i;
	json_t *in;
	json_array_foreach(r->inject, i, in)
	{
		json_t *want = json_object_get(in, "n");
		if (strcmp(json_string_value(json_object_get(in, "call")), call) == 0 &&
		    (want ? json_integer_value(want) : 1) == n)
			return in;
	}
	return NULL;
}

static int check_entry(const json_t *e, size_t i, const char *what, char *err, size_t errlen)
{
	const char *call = json_string_value(json_object_get(e, "call"));
	if (!json_is_object(e) || !call || !strchr(call, '.')) {
		snprintf(err, errlen, "%s %zu: needs \"call\": \"plugin.action\"", what, i + 1);
		return -1;
	}
	return 0;
}

salve_replay *salve_replay_new(const json_t *fixture, const json_t *inject, char *err,
                               size_t errlen)
{
	const json_t *calls = json_object_get(fixture, "calls");
	if (!json_is_array(calls)) {
		snprintf(err, errlen, "the fixture needs \"calls\": a list");
		return NULL;
	}
	if (inject && !json_is_array(inject)) {
		snprintf(err, errlen, "inject must be a list");
		return NULL;
	}
	salve_replay *r = calloc(1, sizeof *r);
	r->calls = json_array();
	r->undos = json_array();
	r->inject = inject ? json_deep_copy(inject) : json_array();
	r->seen = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(calls, i, e)
	{
		if (check_entry(e, i, "fixture call", err, errlen) < 0) {
			salve_replay_free(r);
			return NULL;
		}
		const char *phase = json_string_value(json_object_get(e, "phase"));
		json_array_append_new(phase && strcmp(phase, "undo") == 0 ? r->undos : r->calls,
		                      json_deep_copy(e));
	}
	json_array_foreach(r->inject, i, e)
	{
		if (check_entry(e, i, "injection", err, errlen) < 0) {
			salve_replay_free(r);
			return NULL;
		}
	}
	return r;
}

void salve_replay_free(salve_replay *r)
{
	if (!r)
		return;
	json_decref(r->calls);
	json_decref(r->undos);
	json_decref(r->inject);
	json_decref(r->seen);
	free(r);
}

/* What an injection makes of the answer. */
static json_t *injected(const json_t *in)
{
	if (json_is_true(json_object_get(in, "timeout")))
		return json_pack("{s:s, s:s, s:s}", "outcome", "failed", "status",
		                 "SALVE_ERR_TIMEOUT", "error", "timed out (injected)");
	const char *error = json_string_value(json_object_get(in, "error"));
	if (error)
		return json_pack("{s:s, s:s, s:s}", "outcome", "failed", "status", "SALVE_ERR",
		                 "error", error);
	const char *outcome = json_string_value(json_object_get(in, "outcome"));
	json_t *a =
	    json_pack("{s:s, s:s}", "outcome", outcome ? outcome : "ok", "status", "SALVE_OK");
	json_t *result = json_object_get(in, "result");
	if (result)
		json_object_set(a, "result", result);
	json_t *undo = json_object_get(in, "undo");
	if (undo)
		json_object_set(a, "undo", undo);
	return a;
}

static void shown(const json_t *v, char *buf, size_t len)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	snprintf(buf, len, "%s", s ? s : "{}");
	if (s && strlen(s) >= len && len > 4)
		strcpy(buf + len - 4, "...");
	free(s);
}

json_t *salve_replay_answer(salve_replay *r, const char *step, const char *call, const json_t *args,
                            char *err, size_t errlen)
{
	json_t *in = injection(r, call, count(r, call));
	json_t *e = json_array_get(r->calls, r->next);
	const char *want = json_string_value(json_object_get(e, "call"));
	int matches = e && strcmp(want, call) == 0;
	if (in) {
		if (matches)
			r->next++;
		return injected(in);
	}
	char got[512], expected[512];
	shown(args, got, sizeof got);
	if (!e) {
		snprintf(err, errlen,
		         "unexpected call %s%s in step %s: the fixture has no more calls", call,
		         got, step ? step : "-");
		return NULL;
	}
	json_t *want_args = json_object_get(e, "args");
	int same_args =
	    want_args ? json_equal(want_args, (json_t *)args) : json_object_size(args) == 0;
	if (!matches || !same_args) {
		shown(want_args, expected, sizeof expected);
		snprintf(
		    err, errlen,
		    "unexpected call %s%s in step %s: the fixture's next call is %s%s (step %s)",
		    call, got, step ? step : "-", want, expected,
		    json_string_value(json_object_get(e, "step"))
		        ? json_string_value(json_object_get(e, "step"))
		        : "-");
		return NULL;
	}
	r->next++;
	json_t *a = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "outcome",
	                      json_object_get(e, "outcome"), "status", json_object_get(e, "status"),
	                      "result", json_object_get(e, "result"), "undo",
	                      json_object_get(e, "undo"), "error", json_object_get(e, "error"));
	return a;
}

int salve_replay_undo(salve_replay *r, const char *call, const char *target, char *err,
                      size_t errlen)
{
	char name[256];
	snprintf(name, sizeof name, "undo:%s", call);
	json_t *in = injection(r, name, count(r, name));
	json_t *e = json_array_get(r->undos, r->next_undo);
	if (e && strcmp(json_string_value(json_object_get(e, "call")), call) == 0)
		r->next_undo++;
	else
		e = NULL; /* not recorded: an undo the fixture does not mention succeeds */
	const char *error = json_string_value(json_object_get(in, "error"));
	const char *outcome = json_string_value(json_object_get(e, "outcome"));
	if (!error && outcome && strcmp(outcome, "failed") == 0)
		error = json_string_value(json_object_get(e, "error"));
	if (!error)
		return 0;
	snprintf(err, errlen, "undo of %s%s%s failed: %s", call, target ? " " : "",
	         target ? target : "", error);
	return -1;
}

int salve_replay_status(const json_t *answer)
{
	static const int codes[] = {SALVE_OK,           SALVE_HOLDS,       SALVE_ERR,
	                            SALVE_ERR_RETRY,    SALVE_ERR_INVALID, SALVE_ERR_TIMEOUT,
	                            SALVE_ERR_CANCELED, SALVE_ERR_NOTFOUND};
	const char *name = json_string_value(json_object_get(answer, "status"));
	const char *outcome = json_string_value(json_object_get(answer, "outcome"));
	for (size_t i = 0; name && i < sizeof codes / sizeof *codes; i++)
		if (strcmp(salve_status_name(codes[i]), name) == 0)
			return codes[i] == SALVE_HOLDS ? SALVE_OK : codes[i];
	return outcome && strcmp(outcome, "failed") == 0 ? SALVE_ERR : SALVE_OK;
}

json_t *salve_replay_unused(const salve_replay *r)
{
	json_t *left = json_array();
	for (size_t i = r->next; i < json_array_size(r->calls); i++) {
		json_t *e = json_array_get(r->calls, i);
		json_array_append_new(left,
		                      json_pack("{s:O?, s:O}", "step", json_object_get(e, "step"),
		                                "call", json_object_get(e, "call")));
	}
	return left;
}
