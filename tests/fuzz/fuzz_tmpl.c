/* srv_tmpl_check / srv_tmpl_render: route parameter templates.
 * Invariants: check and render agree on syntax (what check refuses, render refuses; render
 * fails otherwise only for a name the alert does not carry); text without "{{" renders to itself;
 * values are data (a label holding "{{ labels.x }}" comes out as written, never expanded); the JSON
 * forms agree with the string forms. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tmpl.h"

static json_t *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ctx = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s}, s:s, s:s, s:s, s:{s:s}, s:{}, "
	                "s:{}, s:s, s:s, s:s}",
	                "status", "firing", "labels", "alertname", "KubePodCrashLooping",
	                "namespace", "shop", "pod", "{{ labels.namespace }}", "container", "", "x",
	                "}}", "annotations", "summary", "web {{ crash }}-loops", "fingerprint",
	                "0123456789abcdef", "startsAt", "2026-11-22T02:52:22.625Z", "endsAt", "",
	                "groupLabels", "cluster", "eu1", "commonLabels", "commonAnnotations",
	                "generatorURL", "http://prometheus/graph", "receiver", "salve",
	                "externalURL", "http://alertmanager");
	return ctx ? 0 : -1;
}

int fuzz_one(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char cerr[2048] = "", rerr[2048] = "";
	int checked = srv_tmpl_check(text, cerr, sizeof cerr);
	char *out = srv_tmpl_render(text, ctx, rerr, sizeof rerr);
	if (checked < 0) {
		/* Render may stop earlier, at a name the alert lacks: only the verdict must agree.
		 */
		FUZZ_CHECK(out == NULL, "check refused \"%s\" (%s) but render gave \"%s\"", text,
		           cerr, out);
	} else if (!out) {
		FUZZ_CHECK(strstr(rerr, "is not set on the alert") != NULL,
		           "check accepted \"%s\" but render failed: %s", text, rerr);
	}
	if (!strstr(text, "{{"))
		FUZZ_CHECK(out && strcmp(out, text) == 0,
		           "\"%s\" has no placeholder but renders "
		           "as \"%s\"",
		           text, out ? out : rerr);
	if (out && strcmp(text, "{{ labels.pod }}") == 0) {
		/* One pass: the ctx's pod label holds "{{ labels.namespace }}" (a seed). */
		const char *pod =
		    json_string_value(json_object_get(json_object_get(ctx, "labels"), "pod"));
		FUZZ_CHECK(strcmp(out, pod) == 0, "a label value was expanded: %s", out);
	}
	/* The JSON forms: one string inside an object and an array. */
	json_t *v = json_string(text);
	if (v) {
		json_t *doc = json_pack("{s:[o, i]}", "p", v, 3);
		char jerr[4096];
		int jchecked = srv_tmpl_check_json(doc, "params", jerr, sizeof jerr);
		FUZZ_CHECK((jchecked < 0) == (checked < 0),
		           "check_json and check disagree on \"%s\"", text);
		json_t *rendered = srv_tmpl_render_json(doc, ctx, "params", jerr, sizeof jerr);
		FUZZ_CHECK((rendered != NULL) == (out != NULL),
		           "render_json and render disagree on \"%s\"", text);
		if (rendered) {
			const char *s =
			    json_string_value(json_array_get(json_object_get(rendered, "p"), 0));
			FUZZ_CHECK(s && strcmp(s, out) == 0,
			           "render_json gave \"%s\", render \"%s\"", s ? s : "(null)", out);
			FUZZ_CHECK(json_integer_value(
			               json_array_get(json_object_get(rendered, "p"), 1)) == 3,
			           "render_json changed a number");
			json_decref(rendered);
		}
		json_decref(doc);
	}
	free(out);
	free(text);
	return 0;
}
