#include "alert.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

size_t srv_alert_json_depth(const json_t *v)
{
	size_t deepest = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x)
		{
			size_t d = srv_alert_json_depth(x);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			size_t d = srv_alert_json_depth(x);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	return 0;
}

json_t *srv_alert_parse_json(const char *body, size_t len, size_t max_depth, char *err,
                             size_t errlen)
{
	json_error_t jerr;
	/* jansson itself stops at 2048 levels, so the check below never meets a stack-deep
	 * document. */
	json_t *v = json_loadb(body, len, 0, &jerr);
	if (!v) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
		         jerr.column, jerr.text);
		return NULL;
	}
	size_t depth = srv_alert_json_depth(v);
	if (depth > max_depth) {
		snprintf(err, errlen, "JSON nested %zu levels deep; at most %zu are accepted",
		         depth, max_depth);
		json_decref(v);
		return NULL;
	}
	return v;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int srv_alert_time_normalize(const char *text, char *out, size_t outlen)
{
	const char *p = text;
	int Y, M, D, h, m, s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &s))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
		return -1;
	char frac[10] = "";
	if (*p == '.') {
		p++;
		size_t n = 0;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (n < 9)
				frac[n++] = *p; /* nanoseconds are the finest Alertmanager prints */
			p++;
		}
		frac[n] = '\0';
		while (n > 0 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	if (Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && s == 0 && !frac[0] && offset == 0) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	struct tm tm = {0};
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	time_t t = timegm(&tm) - offset;
	struct tm utc;
	/* The offset can carry 0001-01-01T00:30:00+01:00 into year 0 or 9999-12-31 into 10000,
	 * neither of which RFC 3339 can write; strftime's %Y would also drop the leading zeros
	 * of years below 1000. */
	if (!gmtime_r(&t, &utc) || utc.tm_year + 1900 < 1 || utc.tm_year + 1900 > 9999)
		return -1;
	if (salve_fmt(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%s%sZ", utc.tm_year + 1900,
	              utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
	              frac[0] ? "." : "", frac) < 0)
		return -1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void srv_alert_fingerprint(const json_t *labels, char *out, size_t outlen)
{
	uint64_t h = 14695981039346656037ULL;
	size_t n = json_object_size(labels), i = 0;
	const char **names = n ? malloc(n * sizeof *names) : NULL;
	const char *k;
	json_t *v;
	if (names) {
		json_object_foreach((json_t *)labels, k, v) names[i++] = k;
		qsort(names, n, sizeof *names, cmp_str);
	}
	for (i = 0; names && i < n; i++) {
		const char *parts[2] = {names[i],
		                        json_string_value(json_object_get(labels, names[i]))};
		for (int j = 0; j < 2; j++) {
			for (const unsigned char *p =
			         (const unsigned char *)(parts[j] ? parts[j] : "");
			     *p; p++) {
				h ^= *p;
				h *= 1099511628211ULL;
			}
			h ^= 0xff;
			h *= 1099511628211ULL;
		}
	}
	free(names);
	snprintf(out, outlen, "%016llx", (unsigned long long)h);
}

/* An object whose every value is a string (labels, annotations); NULL is allowed when
 * optional. 0, or -1 naming the field. */
static int string_map(const json_t *v, const char *where, int optional, char *err, size_t errlen)
{
	if (!v && optional)
		return 0;
	if (!json_is_object(v)) {
		snprintf(err, errlen, "%s: must be an object of strings%s", where,
		         v ? "" : " (missing)");
		return -1;
	}
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x)
	{
		if (!json_is_string(x)) {
			snprintf(err, errlen, "%s.%s: must be a string, not %s", where, k,
			         salve_json_type_name(x));
			return -1;
		}
	}
	return 0;
}

static int opt_string(const json_t *v, const char *where, char *err, size_t errlen)
{
	if (v && !json_is_string(v)) {
		snprintf(err, errlen, "%s: must be a string, not %s", where,
		         salve_json_type_name(v));
		return -1;
	}
	return 0;
}

static int time_field(const json_t *a, const char *name, const char *where, char *out,
                      size_t outlen, char *err, size_t errlen)
{
	json_t *v = json_object_get(a, name);
	out[0] = '\0';
	if (!v || (json_is_string(v) && !*json_string_value(v)))
		return 0;
	if (!json_is_string(v) || srv_alert_time_normalize(json_string_value(v), out, outlen) < 0) {
		snprintf(err, errlen, "%s.%s: not an RFC 3339 time", where, name);
		return -1;
	}
	return 0;
}

/* Normalizes one alert object; group carries the payload-level fields (may be NULL). */
static json_t *normalize(const json_t *a, const json_t *group, const char *where,
                         const char *default_status, char *err, size_t errlen)
{
	char sub[256];
	if (!json_is_object(a)) {
		snprintf(err, errlen, "%s: must be an object", where);
		return NULL;
	}
	json_t *labels = json_object_get(a, "labels");
	snprintf(sub, sizeof sub, "%s.labels", where);
	if (string_map(labels, sub, 0, err, errlen) < 0)
		return NULL;
	if (json_object_size(labels) == 0) {
		snprintf(err, errlen, "%s.labels: an alert needs at least one label", where);
		return NULL;
	}
	json_t *annotations = json_object_get(a, "annotations");
	snprintf(sub, sizeof sub, "%s.annotations", where);
	if (string_map(annotations, sub, 1, err, errlen) < 0)
		return NULL;
	const char *status = default_status;
	json_t *st = json_object_get(a, "status");
	if (st) {
		status = json_string_value(st);
		if (!status || (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)) {
			snprintf(err, errlen, "%s.status: must be \"firing\" or \"resolved\"",
			         where);
			return NULL;
		}
	}
	char starts[64], ends[64];
	if (time_field(a, "startsAt", where, starts, sizeof starts, err, errlen) < 0 ||
	    time_field(a, "endsAt", where, ends, sizeof ends, err, errlen) < 0)
		return NULL;
	json_t *fp = json_object_get(a, "fingerprint");
	json_t *gen = json_object_get(a, "generatorURL");
	snprintf(sub, sizeof sub, "%s.fingerprint", where);
	if (opt_string(fp, sub, err, errlen) < 0)
		return NULL;
	snprintf(sub, sizeof sub, "%s.generatorURL", where);
	if (opt_string(gen, sub, err, errlen) < 0)
		return NULL;
	char computed[32];
	const char *fingerprint = json_string_value(fp);
	if (!fingerprint || !*fingerprint) {
		srv_alert_fingerprint(labels, computed, sizeof computed);
		fingerprint = computed;
	}
	json_t *out =
	    json_pack("{s:s, s:O, s:o, s:s, s:s, s:s, s:s}", "status", status, "labels", labels,
	              "annotations", annotations ? json_incref(annotations) : json_object(),
	              "fingerprint", fingerprint, "startsAt", starts, "endsAt", ends,
	              "generatorURL", gen ? json_string_value(gen) : "");
	if (!out) {
		snprintf(err, errlen, "%s: not valid UTF-8", where);
		return NULL;
	}
	static const char *const group_strings[] = {"receiver", "externalURL", "groupKey", NULL};
	static const char *const group_maps[] = {"groupLabels", "commonLabels", "commonAnnotations",
	                                         NULL};
	for (size_t i = 0; group_strings[i]; i++) {
		const char *s = json_string_value(json_object_get(group, group_strings[i]));
		json_object_set_new(out, group_strings[i], json_string(s ? s : ""));
	}
	for (size_t i = 0; group_maps[i]; i++) {
		json_t *m = json_object_get(group, group_maps[i]);
		json_object_set_new(out, group_maps[i], m ? json_incref(m) : json_object());
	}
	return out;
}

json_t *srv_alerts_from_alertmanager(const json_t *payload, char *err, size_t errlen)
{
	if (!json_is_object(payload)) {
		snprintf(err, errlen,
		         "the payload must be a JSON object (Alertmanager webhook v4)");
		return NULL;
	}
	json_t *version = json_object_get(payload, "version");
	if (version && !(json_is_string(version) && strcmp(json_string_value(version), "4") == 0)) {
		snprintf(err, errlen,
		         "version: only Alertmanager webhook payload version \"4\" is "
		         "understood");
		return NULL;
	}
	static const char *const strings[] = {"receiver", "status", "externalURL", "groupKey",
	                                      NULL};
	for (size_t i = 0; strings[i]; i++)
		if (opt_string(json_object_get(payload, strings[i]), strings[i], err, errlen) < 0)
			return NULL;
	static const char *const maps[] = {"groupLabels", "commonLabels", "commonAnnotations",
	                                   NULL};
	for (size_t i = 0; maps[i]; i++)
		if (string_map(json_object_get(payload, maps[i]), maps[i], 1, err, errlen) < 0)
			return NULL;
	const char *status = json_string_value(json_object_get(payload, "status"));
	if (status && strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0) {
		snprintf(err, errlen, "status: must be \"firing\" or \"resolved\"");
		return NULL;
	}
	json_t *alerts = json_object_get(payload, "alerts");
	if (!json_is_array(alerts)) {
		snprintf(err, errlen, "alerts: must be an array%s", alerts ? "" : " (missing)");
		return NULL;
	}
	json_t *out = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(alerts, i, a)
	{
		char where[64];
		snprintf(where, sizeof where, "alerts[%zu]", i);
		json_t *n = normalize(a, payload, where, status ? status : "firing", err, errlen);
		if (!n) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, n);
	}
	return out;
}

json_t *srv_alerts_from_generic(const json_t *payload, char *err, size_t errlen)
{
	const json_t *list = payload;
	const char *prefix = "";
	if (json_is_object(payload) && json_object_get(payload, "alerts")) {
		list = json_object_get(payload, "alerts");
		prefix = "alerts";
		if (!json_is_array(list)) {
			snprintf(err, errlen, "alerts: must be an array");
			return NULL;
		}
	}
	json_t *out = json_array();
	if (json_is_object(list)) {
		json_t *n = normalize(list, NULL, "alert", "firing", err, errlen);
		if (!n) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, n);
		return out;
	}
	if (!json_is_array(list)) {
		json_decref(out);
		snprintf(err, errlen,
		         "the payload must be an alert object {labels, annotations}, an array of "
		         "them, or {\"alerts\": [...]}");
		return NULL;
	}
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a)
	{
		char where[64];
		snprintf(where, sizeof where, "%s[%zu]", prefix, i);
		json_t *n = normalize(a, NULL, where, "firing", err, errlen);
		if (!n) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, n);
	}
	return out;
}

void srv_alert_occurrence_key(const char *route, const json_t *alert, int resolved, char *out,
                              size_t outlen)
{
	snprintf(out, outlen, "o\x1f%s\x1f%s\x1f%s%s", route,
	         json_string_value(json_object_get(alert, "fingerprint")),
	         json_string_value(json_object_get(alert, "startsAt")),
	         resolved ? "\x1fresolved" : "");
}

void srv_alert_target_key(const char *route, const char *target, char *out, size_t outlen)
{
	char hex[65];
	salve_sha256_hex(target, strlen(target), hex);
	snprintf(out, outlen, "t\x1f%s\x1f%s", route, hex);
}
