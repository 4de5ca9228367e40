/*
 * A small Prometheus registry: counters, gauges and histograms with label sets, rendered in
 * the text exposition format (version 0.0.4). Families are declared once, then series are
 * created on first use. Not thread-safe: the server holds its mutex around every call.
 * Ownership: srv_metrics_free releases everything; render returns a malloc'd string.
 */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stddef.h>

enum srv_metric_type { SRV_COUNTER = 0, SRV_GAUGE, SRV_HISTOGRAM };

typedef struct srv_metrics srv_metrics;

srv_metrics *srv_metrics_new(void);
void srv_metrics_free(srv_metrics *m);

/* Declares a family. bounds (histograms only) are the upper bounds of the buckets, ascending,
 * copied; +Inf is implicit. Families render in declaration order. 0 or -1. */
int srv_metrics_declare(srv_metrics *m, const char *name, enum srv_metric_type type,
                        const char *help, const double *bounds, size_t nbounds);

/* labels is the inside of {...}, already escaped (see srv_metrics_labels), or "" for none.
 * Unknown family names are ignored (a programming error, not worth a crash). */
void srv_metrics_add(srv_metrics *m, const char *name, const char *labels, double v);
void srv_metrics_set(srv_metrics *m, const char *name, const char *labels, double v);
void srv_metrics_observe(srv_metrics *m, const char *name, const char *labels, double v);
/* The current value of a counter or gauge series (0 when it does not exist); for tests. */
double srv_metrics_value(const srv_metrics *m, const char *name, const char *labels);

/* Builds a label set from NULL-terminated name, value pairs, escaping values as the format
 * wants (\\, \", \n): srv_metrics_labels(buf, len, "route", r, "reason", why, NULL). */
void srv_metrics_labels(char *buf, size_t len, ...);

char *srv_metrics_render(const srv_metrics *m);

#endif
