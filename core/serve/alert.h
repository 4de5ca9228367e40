/*
 * Incoming alerts: Alertmanager webhook payloads (version 4) and the generic hook's JSON,
 * turned into one normalized shape the router, templates and audit use:
 *
 *   {status: "firing"|"resolved", labels: {..}, annotations: {..}, fingerprint,
 *    startsAt, endsAt (RFC 3339 UTC, "" when unset), generatorURL, receiver, externalURL,
 *    groupKey, groupLabels, commonLabels, commonAnnotations}
 *
 * Times are normalized so that one occurrence has one key whatever fraction Alertmanager
 * printed (".625Z", ".625000000Z", "+02:00"); Alertmanager's zero time
 * "0001-01-01T00:00:00Z" (endsAt while firing) becomes "".
 * Pure functions; thread-safe. Returned values are new references.
 */
#ifndef SRV_ALERT_H
#define SRV_ALERT_H

#include <jansson.h>
#include <stddef.h>

/* Parses a request body as JSON, refusing nesting deeper than max_depth. NULL with
 * "invalid JSON at line L column C: reason" (or the depth) in err. */
json_t *srv_alert_parse_json(const char *body, size_t len, size_t max_depth, char *err,
                             size_t errlen);
/* Nesting depth of v: a scalar is 0, [] and {} are 1, [[1]] is 2. */
size_t srv_alert_json_depth(const json_t *v);

/* Alertmanager webhook payload -> array of normalized alerts, or NULL with the offending
 * field named in err ("alerts[3].labels.severity: must be a string"). */
json_t *srv_alerts_from_alertmanager(const json_t *payload, char *err, size_t errlen);
/* Generic hook: one alert object {labels, annotations?, status?, startsAt?, endsAt?,
 * fingerprint?}, an array of them, or {"alerts": [...]}. A missing fingerprint is computed
 * as Alertmanager computes it from the labels. */
json_t *srv_alerts_from_generic(const json_t *payload, char *err, size_t errlen);

/* RFC 3339 -> canonical UTC form with the fraction's trailing zeros removed, or "" for the
 * zero time. 0, or -1 when text is not an RFC 3339 timestamp. */
int srv_alert_time_normalize(const char *text, char *out, size_t outlen);

/* Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted name/value pairs, each
 * followed by 0xff) as 16 hex digits into out (>= 17 bytes). */
void srv_alert_fingerprint(const json_t *labels, char *out, size_t outlen);

/* Dedup keys. An occurrence is one route, one fingerprint, one startsAt (and whether the key is
 * for the on_resolved run). A target is one route and what the run would act on. */
void srv_alert_occurrence_key(const char *route, const json_t *alert, int resolved, char *out,
                              size_t outlen);
void srv_alert_target_key(const char *route, const char *target, char *out, size_t outlen);

#endif
