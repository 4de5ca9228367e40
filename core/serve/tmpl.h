/*
 * Route parameter templates: `{{ labels.namespace }}`, `{{ annotations.summary }}`,
 * `{{ fingerprint }}`, with an optional fallback `{{ labels.pod | default "" }}`. Text around
 * placeholders is kept: "{{ labels.namespace }}/{{ labels.deployment }}".
 *
 * Values fill runbook params and nothing else (never a shell line or a URL): the runbook's
 * typed params and each plugin's argument validation still apply to what comes out.
 *
 * The context is a normalized alert (alert.h): maps labels, annotations, groupLabels,
 * commonLabels, commonAnnotations; strings fingerprint, status, startsAt, endsAt,
 * generatorURL, receiver, externalURL. Pure functions; thread-safe.
 */
#ifndef SRV_TMPL_H
#define SRV_TMPL_H

#include <jansson.h>
#include <stddef.h>

/* Checks a template's syntax and names without an alert (config load). 0 or -1 with err. */
int srv_tmpl_check(const char *text, char *err, size_t errlen);
/* Renders text against ctx. Returns a malloc'd string (caller frees), or NULL with the reason
 * in err (a missing label without a default names the label). */
char *srv_tmpl_render(const char *text, const json_t *ctx, char *err, size_t errlen);

/* Called for each value an alert fills into a placeholder (not for the text around it, nor
 * for a | default): where is the JSON path of the string being rendered ("params.hosts"; NULL
 * for srv_tmpl_render_with), name the placeholder ("labels.host"), value the alert's text.
 * Returns what to put in its place (value itself, or a string that stays valid until the
 * render returns), or NULL with err set to refuse the alert. */
typedef const char *(*srv_tmpl_value_fn)(void *ctx, const char *where, const char *name,
                                         const char *value, char *err, size_t errlen);
char *srv_tmpl_render_with(const char *text, const json_t *ctx, srv_tmpl_value_fn fn, void *fnctx,
                           char *err, size_t errlen);

/* Every string inside v (deep) checked / rendered; other values are copied as they are.
 * where names v in messages ("routes[2].params"). render returns a new reference or NULL. */
int srv_tmpl_check_json(const json_t *v, const char *where, char *err, size_t errlen);
json_t *srv_tmpl_render_json(const json_t *v, const json_t *ctx, const char *where, char *err,
                             size_t errlen);
json_t *srv_tmpl_render_json_with(const json_t *v, const json_t *ctx, const char *where,
                                  srv_tmpl_value_fn fn, void *fnctx, char *err, size_t errlen);

#endif
