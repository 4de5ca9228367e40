/* The webhook payload parsers of salve-serve: srv_alert_parse_json, then both
 * srv_alerts_from_alertmanager and srv_alerts_from_generic on the same body.
 * Invariants: an accepted body nests no deeper than the limit; every normalized alert has the
 * documented shape (status firing|resolved, non-empty labels and annotations of strings,
 * a fingerprint, the group fields); startsAt/endsAt are "" or canonical (normalizing them
 * again changes nothing); a computed fingerprint is the labels' fingerprint; one alert out
 * per alert in. */
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "fuzz_util.h"

#define MAX_DEPTH 32 /* salve-serve's default max_json_depth */

static void check_map(const json_t *alert, const char *field, int nonempty)
{
	const json_t *m = json_object_get(alert, field);
	FUZZ_CHECK(json_is_object(m), "normalized alert: %s is not an object", field);
	FUZZ_CHECK(!nonempty || json_object_size(m) > 0, "normalized alert: %s is empty", field);
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)m, k, x)
	    FUZZ_CHECK(json_is_string(x), "normalized alert: %s.%s is not a string", field, k);
}

static void check_time(const json_t *alert, const char *field)
{
	const char *t = json_string_value(json_object_get(alert, field));
	FUZZ_CHECK(t != NULL, "normalized alert: %s is not a string", field);
	if (!*t)
		return;
	char again[64];
	FUZZ_CHECK(srv_alert_time_normalize(t, again, sizeof again) == 0,
	           "normalized %s \"%s\" is not RFC 3339 any more", field, t);
	FUZZ_CHECK(strcmp(again, t) == 0, "normalized %s \"%s\" normalizes again to \"%s\"", field,
	           t, again);
}

/* in: the alert object given (or NULL when unknown); out: its normalized form. */
static void check_alert(const json_t *in, const json_t *out)
{
	FUZZ_CHECK(json_is_object(out), "normalized alert is not an object");
	const char *status = json_string_value(json_object_get(out, "status"));
	FUZZ_CHECK(status && (!strcmp(status, "firing") || !strcmp(status, "resolved")),
	           "normalized alert: status \"%s\"", status ? status : "(null)");
	check_map(out, "labels", 1);
	check_map(out, "annotations", 0);
	check_map(out, "groupLabels", 0);
	check_map(out, "commonLabels", 0);
	check_map(out, "commonAnnotations", 0);
	check_time(out, "startsAt");
	check_time(out, "endsAt");
	static const char *const strings[] = {"fingerprint", "generatorURL", "receiver",
	                                      "externalURL", "groupKey",     NULL};
	for (size_t i = 0; strings[i]; i++)
		FUZZ_CHECK(json_is_string(json_object_get(out, strings[i])),
		           "normalized alert: %s is not a string", strings[i]);
	const char *fp = json_string_value(json_object_get(out, "fingerprint"));
	FUZZ_CHECK(*fp, "normalized alert: empty fingerprint");
	const char *given = json_string_value(json_object_get(in, "fingerprint"));
	if (!given || !*given) {
		char want[32];
		srv_alert_fingerprint(json_object_get(out, "labels"), want, sizeof want);
		FUZZ_CHECK(strcmp(fp, want) == 0, "computed fingerprint %s, the labels give %s", fp,
		           want);
	} else {
		FUZZ_CHECK(strcmp(fp, given) == 0, "fingerprint %s given, %s kept", given, fp);
	}
	char key[1024];
	srv_alert_occurrence_key("route", out, 0, key, sizeof key);
	FUZZ_CHECK(strncmp(key, "o\x1froute\x1f", 8) == 0, "occurrence key %s", key);
}

static void check_list(const json_t *alerts_in, const json_t *out, const char *which)
{
	FUZZ_CHECK(json_is_array(out), "%s: result is not an array", which);
	FUZZ_CHECK(json_array_size(out) == json_array_size(alerts_in), "%s: %zu alerts in, %zu out",
	           which, json_array_size(alerts_in), json_array_size(out));
	size_t i;
	json_t *a;
	json_array_foreach(out, i, a) check_alert(json_array_get(alerts_in, i), a);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	char err[1024] = "";
	json_t *payload =
	    srv_alert_parse_json((const char *)data, size, MAX_DEPTH, err, sizeof err);
	if (!payload) {
		FUZZ_CHECK(err[0], "a body was refused without a reason");
		return 0;
	}
	FUZZ_CHECK(srv_alert_json_depth(payload) <= MAX_DEPTH, "accepted a body nested %zu deep",
	           srv_alert_json_depth(payload));

	json_t *am = srv_alerts_from_alertmanager(payload, err, sizeof err);
	if (am) {
		check_list(json_object_get(payload, "alerts"), am, "alertmanager");
		json_decref(am);
	} else {
		FUZZ_CHECK(err[0], "alertmanager: refused without a reason");
	}

	err[0] = '\0';
	json_t *gen = srv_alerts_from_generic(payload, err, sizeof err);
	if (gen) {
		const json_t *list = payload;
		if (json_is_object(payload) && json_object_get(payload, "alerts"))
			list = json_object_get(payload, "alerts");
		if (json_is_object(list)) {
			FUZZ_CHECK(json_array_size(gen) == 1, "generic: one alert in, %zu out",
			           json_array_size(gen));
			check_alert(list, json_array_get(gen, 0));
		} else {
			check_list(list, gen, "generic");
		}
		json_decref(gen);
	} else {
		FUZZ_CHECK(err[0], "generic: refused without a reason");
	}
	json_decref(payload);
	return 0;
}
