/*
 * A small Prometheus registry: counters, gauges and histograms with label sets, rendered in
 * the text exposition format (version 0.0.4). Families are declared once, then series are
 * created on first use. Not thread-safe: the server holds its mutex around every call.
 * Ownership: salve_metrics_free releases everything; render returns a malloc'd string.
 */
#ifndef SALVE_SERVE_METRICS_H
#define SALVE_SERVE_METRICS_H

#include <stddef.h>

enum salve_metric_type { SALVE_COUNTER = 0, SALVE_GAUGE, SALVE_HISTOGRAM };

typedef struct salve_metrics salve_metrics;

salve_metrics *salve_metrics_new(void);
void salve_metrics_free(salve_metrics *m);

/* Declares a family. bounds (histograms only) are the upper bounds of the buckets, ascending,
 * copied; +Inf is implicit. Families render in declaration order. 0 or -1. */
int salve_metrics_declare(salve_metrics *m, const char *name, enum salve_metric_type type,
                          const char *help, const double *bounds, size_t nbounds);

/* labels is the inside of {...}, already escaped (see salve_metrics_labels), or "" for none.
 * Unknown family names are ignored (a programming error, not worth a crash). */
void salve_metrics_add(salve_metrics *m, const char *name, const char *labels, double v);
void salve_metrics_set(salve_metrics *m, const char *name, const char *labels, double v);
void salve_metrics_observe(salve_metrics *m, const char *name, const char *labels, double v);
/* The current value of a counter or gauge series (0 when it does not exist); for tests. */
double salve_metrics_value(const salve_metrics *m, const char *name, const char *labels);

/* Builds a label set from NULL-terminated name, value pairs, escaping values as the format
 * wants (\\, \", \n): salve_metrics_labels(buf, len, "route", r, "reason", why, NULL). */
void salve_metrics_labels(char *buf, size_t len, ...);

char *salve_metrics_render(const salve_metrics *m);

#endif
