/*
 * What a route gives an alert: the runbook params (templates filled from the alert), the
 * target text (dedup key), and the distinct targets the run reaches (blast radius). Values an
 * alert fills in must name one thing (no host-pattern or list syntax) unless the route's
 * allow_patterns lets them through. See docs/serve.md, "Values from alerts name one thing".
 *
 * Pure functions over a loaded route (read-only) and an alert: thread-safe. Returned values
 * are new references or malloc'd strings the caller frees.
 */
#ifndef SRV_RENDER_H
#define SRV_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "route.h"

/* The params (templates rendered; the on_resolved ones when
 * resolved != 0) and the target text (the target template, or the params as canonical
 * JSON). *params is a new reference, *target malloc'd. 0; -1 with err when a template
 * cannot be filled; -2 with err when a value from the alert carries host-pattern or list
 * syntax the route does not allow (see srv_render_value_syntax). */
int srv_render_params(const srv_route *r, const json_t *alert, int resolved, json_t **params,
                      char **target, char *err, size_t errlen);

/* The distinct targets a run acts on, for the blast radius: the target text (as
 * srv_render_params gives it), rendered once per element when an allowed value from the
 * alert is a list ("web1,web2" counts two). *targets is a new array of strings. *unbounded is
 * set when a value is a pattern (web*, all, ~re, [1:3]) or the lists name more than 256
 * combinations: nobody can count what it reaches. 0, or -1 with err. */
int srv_render_targets(const srv_route *r, const json_t *alert, int resolved, json_t **targets,
                       int *unbounded, char *err, size_t errlen);

/* Whether value (from an alert) carries host-pattern or list syntax: '*', '?', ',', ':', '!',
 * '&', '~', '[', ']', whitespace or control characters, or is the word "all". Returns NULL
 * when it names exactly one thing, else a static description of the first offence
 * ("'*'", "whitespace", "the word all"). */
const char *srv_render_value_syntax(const char *value);

#endif
